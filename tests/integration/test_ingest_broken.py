"""Bad input never crashes the run and is never lost; odd values are stored verbatim."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from olist_pipeline.cli import main
from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.ingest.loader import ingest

pytestmark = pytest.mark.integration

SELLERS_HEADER = b'"seller_id","seller_zip_code_prefix","seller_city","seller_state"\n'
BROKEN_SELLERS = SELLERS_HEADER + (
    b's1,"01037",sao paulo,SP\n'
    b's2,"01037",too,many,fields\n'
    b's3,"01037",s\xe3o paulo,SP\n'  # latin-1, not UTF-8
    b's4,"01037",nul\x00here,SP\n'
    b's5,"01037,sao paulo,SP\n'  # the quote never closes
    b's6,"02000",campinas,SP\n'
    b's7,"02000"x,campinas,SP\n'  # text after a closing quote
    b's8,,"",SP\n'
    b"s9,too few\n"
)
# row_number -> (line_number, reason, raw text as stored)
EXPECTED_QUARANTINE = {
    2: (3, "field_count", 's2,"01037",too,many,fields'),
    3: (4, "undecodable", 's3,"01037",s\\xe3o paulo,SP'),
    4: (5, "nul_byte", 's4,"01037",nul\\x00here,SP'),
    5: (6, "unterminated_quote", 's5,"01037,sao paulo,SP'),
    7: (8, "bad_quote", 's7,"02000"x,campinas,SP'),
    9: (10, "field_count", "s9,too few"),
}
EXPECTED_SELLERS = [
    (1, "s1", "01037", "sao paulo", "SP"),
    (6, "s6", "02000", "campinas", "SP"),
    (8, "s8", None, "", "SP"),
]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``main()`` points the root logger at the captured stderr; put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def admin(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True)


def raw_values(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    cols = sql.SQL(", ").join(map(sql.Identifier, contract_for(table).header))
    return conn.execute(
        sql.SQL("SELECT _row_number, {} FROM {} ORDER BY _batch_id, _row_number").format(
            cols, sql.Identifier("raw", table)
        )
    ).fetchall()


def write(folder: Path, table: str, data: bytes) -> Path:
    path = folder / contract_for(table).file_name
    path.write_bytes(data)
    return path


def test_bad_records_are_quarantined_and_whole_file_problems_fail_only_their_batch(
    pg_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write(tmp_path, "sellers", BROKEN_SELLERS)
    write(tmp_path, "customers", b'"customer_id"\n')  # header mismatch
    write(tmp_path, "products", b"")  # empty file
    # order_items: missing
    write(
        tmp_path,
        "category_translation",
        b"\xef\xbb\xbfproduct_category_name,product_category_name_english\r\n"
        b"beleza_saude,health_beauty\r\nbebes,baby",
    )
    tables = "sellers,customers,products,order_items,category_translation"
    monkeypatch.setenv("OLIST_PG_DATABASE", pg_settings.postgres.database)
    code = main(["ingest", "--source", str(tmp_path), "--tables", tables, "--run-id", "bad-1"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "error: customers:" in out and "header does not match" in out
    assert "error: products:" in out and "is empty" in out
    assert "error: order_items:" in out and "does not exist" in out

    with admin(pg_settings) as conn:
        quarantined = conn.execute(
            "SELECT row_number, line_number, reason, raw_text, source_file, run_id, message"
            " FROM audit.quarantine WHERE table_name = 'sellers' ORDER BY row_number"
        ).fetchall()
        assert {r[0]: r[1:4] for r in quarantined} == EXPECTED_QUARANTINE
        assert {r[4:6] for r in quarantined} == {("olist_sellers_dataset.csv", "bad-1")}
        assert all(r[6] for r in quarantined)
        assert raw_values(conn, "sellers") == EXPECTED_SELLERS
        assert raw_values(conn, "category_translation") == [
            (1, "beleza_saude", "health_beauty"),
            (2, "bebes", "baby"),
        ]
        batches = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT table_name, status, load_path, source_rows, loaded_rows,"
                " quarantined_rows, reconciled, sha256 IS NOT NULL, error FROM audit.batches"
            ).fetchall()
        }
        assert batches["sellers"][:7] == ("succeeded", "records", 9, 3, 6, True, True)
        assert batches["category_translation"][:7] == ("succeeded", "copy", 2, 2, 0, True, True)
        for table, words, has_sha in (
            ("customers", "header does not match", True),
            ("products", "is empty", True),
            ("order_items", "does not exist", False),
        ):
            status, _, source_rows, *_, sha_known, error = batches[table]
            assert (status, source_rows, sha_known) == ("failed", None, has_sha)
            assert words in error
        # a failed batch leaves no partition behind
        for table in ("customers", "products", "order_items"):
            n = conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
                (f"raw.{table}",),
            ).fetchone()
            assert n == (0,)

    # Re-running reports the same (deterministic exit code), changes nothing.
    again = ingest(pg_settings, tmp_path, ["sellers"], run_id="bad-2")
    assert [(f.status, f.quarantined_rows) for f in again.files] == [("skipped", 6)]
    assert again.exit_code == 3
    with admin(pg_settings) as conn:
        assert conn.execute("SELECT count(*) FROM audit.quarantine").fetchone() == (6,)


EXIT_CASES = {
    "clean": (SELLERS_HEADER + b"s1,1,x,SP\n", 0),
    "quarantined": (BROKEN_SELLERS, 3),
    "missing": (None, 2),  # only a missing file: a usage problem
}


@pytest.mark.parametrize("case", EXIT_CASES)
def test_exit_codes(
    pg_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    content, expected = EXIT_CASES[case]
    if content is not None:
        write(tmp_path, "sellers", content)
    monkeypatch.setenv("OLIST_PG_DATABASE", pg_settings.postgres.database)
    assert main(["ingest", "--source", str(tmp_path), "--tables", "sellers"]) == expected
    assert f"exit {expected}" in capsys.readouterr().out


def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--source", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["ingest", "--source", str(tmp_path), "--tables", "sellers,nope"]) == 2
    assert "unknown table(s) nope" in capsys.readouterr().err
    assert main(["ingest", "--source", str(tmp_path), "--batch-id", "a b"]) == 2
    assert "--batch-id 'a b' is not valid" in capsys.readouterr().err


# Values that look like SQL, COPY escapes or control characters; all valid CSV.
ODD_VALUES = [
    "'); DROP TABLE raw.sellers; --",
    "\\N",
    "C:\\path\\to\\",
    "tab\there",
    "line\nbreak",
    "crlf\r\nbreak",
    'say "hi"',
    "semi;colon",
    "$1 %s {x}",
    "",
    "\\.",
    " leading and trailing ",
    "ünïcödé ✓",
]


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.mark.parametrize("end_marker_line", [False, True], ids=["fast-path", "per-record"])
def test_odd_values_are_stored_verbatim(
    pg_settings: Settings, tmp_path: Path, end_marker_line: bool
) -> None:
    lines = [f"s{i},{csv_field(v)},{csv_field(v)},SP" for i, v in enumerate(ODD_VALUES, start=1)]
    expected = [(i, f"s{i}", v, v, "SP") for i, v in enumerate(ODD_VALUES, start=1)]
    if end_marker_line:
        # A line holding only \. ends COPY's CSV data in PostgreSQL 15: the
        # scanner sends the file through the reader instead.
        lines.append('s99,"x\n\\.\ny",y,SP')
        expected.append((len(expected) + 1, "s99", "x\n\\.\ny", "y", "SP"))
    data = SELLERS_HEADER + "\n".join(lines).encode() + b"\n"
    write(tmp_path, "sellers", data)
    result = ingest(pg_settings, tmp_path, ["sellers"], run_id="odd")
    (f,) = result.files
    assert (f.status, f.quarantined_rows) == ("loaded", 0), f
    assert f.load_path == ("records" if end_marker_line else "copy")
    with admin(pg_settings) as conn:
        assert raw_values(conn, "sellers") == expected
        # the parent tables are all still there
        n = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'raw'::regnamespace"
            " AND relkind = 'p'"
        ).fetchone()
        assert n == (9,)


def test_a_changed_file_is_a_new_batch_and_a_named_batch_is_guarded(
    pg_settings: Settings, tmp_path: Path
) -> None:
    v1 = SELLERS_HEADER + b's1,"01037",sao paulo,SP\n'
    v2 = v1 + b"s2,12345,campinas,SP\n"
    write(tmp_path, "sellers", v1)
    first = ingest(pg_settings, tmp_path, ["sellers"]).files[0]
    write(tmp_path, "sellers", v2)
    second = ingest(pg_settings, tmp_path, ["sellers"]).files[0]
    assert first.batch_id != second.batch_id
    assert (first.loaded_rows, second.loaded_rows) == (1, 2)
    with admin(pg_settings) as conn:
        per_batch = conn.execute(
            "SELECT _batch_id, count(*) FROM raw.sellers GROUP BY 1 ORDER BY 2"
        ).fetchall()
        assert per_batch == [(first.batch_id, 1), (second.batch_id, 2)]

    # A named batch that already holds other bytes is refused, then replaced on request.
    named = ingest(pg_settings, tmp_path, ["sellers"], batch_id="daily.1").files[0]
    assert named.status == "loaded"
    write(tmp_path, "sellers", v1)
    refused = ingest(pg_settings, tmp_path, ["sellers"], batch_id="daily.1")
    assert refused.exit_code == 2
    assert "already holds a different file" in (refused.files[0].error or "")
    replaced = ingest(pg_settings, tmp_path, ["sellers"], batch_id="daily.1", replace=True)
    assert replaced.exit_code == 0
    with admin(pg_settings) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM raw.sellers WHERE _batch_id = 'daily.1'"
        ).fetchone()
        assert rows == (1,)
        status = conn.execute(
            "SELECT status, loaded_rows FROM audit.batches WHERE batch_id = 'daily.1'"
        ).fetchone()
        assert status == ("succeeded", 1)


def test_concurrent_loads_of_one_batch_load_it_once(pg_settings: Settings, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = b"".join(b"s%d,%05d,city,SP\n" % (i, i) for i in range(50_000))
    write(tmp_path, "sellers", SELLERS_HEADER + body)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: ingest(pg_settings, tmp_path, ["sellers"]), range(2)))
    assert sorted(r.files[0].status for r in runs) == ["loaded", "skipped"]
    with admin(pg_settings) as conn:
        assert conn.execute("SELECT count(*) FROM raw.sellers").fetchone() == (50_000,)
