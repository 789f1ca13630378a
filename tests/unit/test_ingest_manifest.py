"""Batch identity, exit-code rules and the command's usage errors (no database)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from olist_pipeline.cli import build_parser
from olist_pipeline.errors import UsageError
from olist_pipeline.ingest.loader import FileOutcome, IngestResult
from olist_pipeline.ingest.manifest import (
    check_batch_id,
    default_batch_id,
    file_sha256,
    partition_name,
)


def test_batch_id_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    sha, size = file_sha256(path)
    assert (sha, size) == (hashlib.sha256(b"a,b\n1,2\n").hexdigest(), 8)
    assert default_batch_id("orders", sha) == f"orders-{sha[:16]}"
    path.write_bytes(b"a,b\n1,3\n")
    assert file_sha256(path)[0] != sha


def test_partition_names_are_stable_short_identifiers() -> None:
    name = partition_name("order_payments", "any 'text' at all; --")
    assert name == partition_name("order_payments", "any 'text' at all; --")
    assert name != partition_name("order_payments", "another")
    assert name.startswith("order_payments__b") and len(name) <= 63
    assert name.replace("_", "").isalnum()


@pytest.mark.parametrize("good", ["2018-09-01", "daily.1", "run:7+x", "A" * 100])
def test_batch_ids_callers_may_choose(good: str) -> None:
    assert check_batch_id(good) == good


@pytest.mark.parametrize("bad", ["", "a b", "x'y", "-lead", "A" * 101, "semi;colon"])
def test_batch_ids_refused_with_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--batch-id"):
        check_batch_id(bad)


def outcome(status: str, quarantined: int = 0, code: int = 1) -> FileOutcome:
    return FileOutcome("orders", Path("x"), status, quarantined_rows=quarantined, failure_code=code)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([outcome("loaded"), outcome("skipped")], 0),
        ([outcome("loaded"), outcome("skipped", quarantined=2)], 3),
        ([outcome("loaded", quarantined=1), outcome("failed", code=2)], 2),
        ([outcome("failed", code=2), outcome("failed", code=1)], 1),
        ([outcome("loaded", quarantined=5), outcome("failed", code=1)], 1),
    ],
)
def test_exit_code_failure_beats_usage_beats_quarantine(
    files: list[FileOutcome], expected: int
) -> None:
    assert IngestResult("r", tuple(files)).exit_code == expected


def test_ingest_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "--help"])
    out = capsys.readouterr().out
    for text in ("--source", "--tables", "--batch-id", "--run-id", "--replace", "exit codes:"):
        assert text in out
    for code in ("0  every file loaded", "3  finished", "1  at least one file failed", "2  bad"):
        assert code in out
