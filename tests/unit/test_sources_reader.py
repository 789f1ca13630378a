from __future__ import annotations

import csv
from pathlib import Path

import pytest

from olist_pipeline.contracts.sources import CONTRACTS, contract_for
from olist_pipeline.data.reader import (
    EmptyFileError,
    HeaderMismatchError,
    MalformedRecordError,
    MissingFileError,
    Record,
    SourceFileError,
    iter_records,
    read_rows,
    zero_pad_zip,
)
from olist_pipeline.errors import OlistError

# Data rows per file in ../shared/realdata (MANIFEST.md).
MANIFEST_ROWS = {
    "olist_sellers_dataset.csv": 3095,
    "olist_products_dataset.csv": 32951,
    "product_category_name_translation.csv": 71,
    "olist_order_payments_dataset.csv": 103886,
    "olist_orders_dataset.csv": 4071,
    "olist_order_items_dataset.csv": 5154,
    "olist_customers_dataset.csv": 200,
    "olist_order_reviews_dataset.csv": 6123,
}

REVIEWS = contract_for("order_reviews")
SELLERS = contract_for("sellers")
SELLERS_HEADER = b'"seller_id","seller_zip_code_prefix","seller_city","seller_state"\n'


def _write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _independent(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))[1:]


@pytest.mark.parametrize("file_name", sorted(MANIFEST_ROWS))
def test_reads_every_real_file_with_the_manifest_row_count(file_name: str, realdata: Path) -> None:
    path = realdata / file_name
    records = list(iter_records(path, contract_for(file_name)))
    assert len(records) == MANIFEST_ROWS[file_name]
    assert [r for r in records if r.error] == []
    assert [r.row_number for r in records] == list(range(1, len(records) + 1))
    # Same values as an independent parse (None stands for an empty unquoted field).
    expected = _independent(path)
    assert [["" if v is None else v for v in r.values or ()] for r in records] == expected


def test_real_reviews_keep_embedded_line_breaks_and_line_numbers(realdata: Path) -> None:
    path = realdata / REVIEWS.file_name
    records = list(iter_records(path, REVIEWS))
    multiline = [r for r in records if "\n" in r.raw]
    assert len(multiline) == 237  # MANIFEST: 237 messages hold embedded CRLF
    physical = path.read_bytes().count(b"\n") + 1  # no final newline
    assert physical == 6481
    last = records[-1]
    assert last.line_number + last.raw.count("\n") == physical
    assert all('"' in r.raw for r in records)  # ids are always quoted here
    assert any(r.values and r.values[4] and '"' in r.values[4] for r in records)


def test_real_zip_prefixes_stay_five_character_text(realdata: Path) -> None:
    zips = [v[1] for v in read_rows(realdata / SELLERS.file_name, SELLERS)]
    assert all(z is not None and len(z) == 5 for z in zips)
    assert sum(1 for z in zips if z and z.startswith("0")) == 1027


def test_derived_geolocation_is_read_as_written_and_zero_padded_on_request(
    realdata: Path,
) -> None:
    # The derived copy is a pandas re-export: unquoted header, integer zips.
    contract = contract_for("geolocation")
    rows = list(read_rows(realdata / "derived" / contract.file_name, contract))
    assert len(rows) == 19015
    zips = [r[0] for r in rows]
    assert sum(1 for z in zips if z and len(z) == 4) == 4354
    padded = {zero_pad_zip(z) for z in zips}
    assert len(padded) == 19015 and all(p and len(p) == 5 for p in padded)


def test_rfc4180_quirks_in_one_file(tmp_path: Path) -> None:
    header = ",".join(f'"{c}"' for c in REVIEWS.header).encode()
    body = (
        b'"0a1","b2c",5,,"",2018-01-01 00:00:00,2018-01-02 10:00:00\r\n'
        b'"0a2","b2d",1,ruim,"linha 1\r\nlinha ""2""\r\n",'
        b"2018-01-01 00:00:00,2018-01-03 00:00:00\r\n"
        b'"0a3","b2e",4,t\xc3\xadtulo,"a, b\rc",2018-01-01 00:00:00,2018-01-03 00:00:00'
    )
    path = _write(tmp_path, b"\xef\xbb\xbf" + header + b"\r\n" + body)
    records = list(iter_records(path, REVIEWS))
    assert [r.error for r in records] == [None, None, None]
    first, second, third = records
    assert first.values == (
        "0a1", "b2c", "5", None, "", "2018-01-01 00:00:00", "2018-01-02 10:00:00",
    )  # fmt: skip
    assert first.line_number == 2 and second.line_number == 3 and third.line_number == 6
    assert second.values is not None and second.values[4] == 'linha 1\r\nlinha "2"\r\n'
    assert second.raw.startswith('"0a2"') and second.raw.endswith("2018-01-03 00:00:00")
    assert third.values is not None
    assert third.values[3] == "título" and third.values[4] == "a, b\rc"
    assert third.raw.endswith("00:00:00")  # missing final newline
    assert next(iter(read_rows(path, REVIEWS)))[3] is None


def test_bare_and_quoted_ids_and_zip_text(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        SELLERS_HEADER + b'"0a","01037",sao paulo,SP\nab,"99999","04482255",SP\n',
    )
    assert list(read_rows(path, SELLERS)) == [
        ("0a", "01037", "sao paulo", "SP"),
        ("ab", "99999", "04482255", "SP"),
    ]


def test_malformed_records_carry_codes_raw_text_and_line_numbers(tmp_path: Path) -> None:
    lines = [
        b'a1,"01037",x,SP',  # 2 ok
        b'a2,"01037",x',  # 3 field_count
        b'a3,"0\xff1",x,SP',  # 4 undecodable
        b'a4,"01\x0037",x,SP',  # 5 nul_byte
        b'a5,"01037"z,x,SP',  # 6 bad_quote
        b"",  # 7 blank line
        b'a6,"01037,x,SP',  # 8 unterminated: reported alone
        b'a7,"01037",y,SP',  # 9 ok again
    ]
    path = _write(tmp_path, SELLERS_HEADER + b"\n".join(lines) + b"\n")
    records = list(iter_records(path, SELLERS))
    codes = [(r.line_number, (r.error or "ok").split(":")[0]) for r in records]
    assert codes == [
        (2, "ok"),
        (3, "field_count"),
        (4, "undecodable"),
        (5, "nul_byte"),
        (6, "bad_quote"),
        (7, "field_count"),
        (8, "unterminated_quote"),
        (9, "ok"),
    ]
    assert [r.row_number for r in records] == list(range(1, 9))
    assert records[2].raw == 'a3,"0\\xff1",x,SP'
    assert records[6].raw == 'a6,"01037,x,SP'
    assert all(r.values is None for r in records if r.error)
    assert records[-1].values == ("a7", "01037", "y", "SP")


def test_unterminated_quote_at_the_end_keeps_the_lines_before(tmp_path: Path) -> None:
    path = _write(tmp_path, SELLERS_HEADER + b'a1,"01037",x,SP\na2,"0103\nb3,"01037",x,SP')
    records = list(iter_records(path, SELLERS))
    assert records[0].ok
    assert records[1].error and records[1].error.startswith("unterminated_quote")
    assert records[1].raw == 'a2,"0103' and records[1].line_number == 3
    # The line after the broken one is parsed on its own again.
    assert records[2].line_number == 4 and records[2].values == ("b3", "01037", "x", "SP")


def test_strict_read_stops_at_the_first_bad_record(tmp_path: Path) -> None:
    path = _write(tmp_path, SELLERS_HEADER + b'a1,"01037",x,SP\na2,x\n')
    rows = read_rows(path, SELLERS)
    assert next(rows) == ("a1", "01037", "x", "SP")
    with pytest.raises(MalformedRecordError, match=r"record 2 \(line 3\).*field_count") as exc:
        next(rows)
    assert isinstance(exc.value.record, Record) and exc.value.record.raw == "a2,x"


def test_whole_file_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="OLIST_DATA_DIR") as missing:
        list(iter_records(tmp_path / "nope.csv", SELLERS))
    assert missing.value.exit_code == 2 and isinstance(missing.value, OlistError)
    with pytest.raises(EmptyFileError, match="empty"):
        list(iter_records(_write(tmp_path, b""), SELLERS))
    with pytest.raises(EmptyFileError):
        list(iter_records(_write(tmp_path, b"\xef\xbb\xbf"), SELLERS))
    bad = _write(tmp_path, b"seller_id,zip,seller_city,seller_state\n")
    with pytest.raises(HeaderMismatchError) as mismatch:
        list(iter_records(bad, SELLERS))
    message = str(mismatch.value)
    assert str(bad) in message and "seller_zip_code_prefix" in message and "'zip'" in message
    assert mismatch.value.found == ("seller_id", "zip", "seller_city", "seller_state")
    assert isinstance(mismatch.value, SourceFileError)


def test_header_only_file_has_no_records(tmp_path: Path) -> None:
    for contract in CONTRACTS:
        line = ",".join(contract.header).encode()
        assert list(iter_records(_write(tmp_path, line), contract)) == []


def test_zero_pad_zip() -> None:
    assert zero_pad_zip("1037") == "01037"
    assert zero_pad_zip("01037") == "01037"
    assert zero_pad_zip(None) is None
    assert zero_pad_zip("abc") == "abc"
