"""The fast path's shape scanner: which bytes PostgreSQL's CSV parser may be trusted with."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.data.reader import iter_records
from olist_pipeline.ingest.scan import CsvShapeScanner, ScanResult

HEADER = b'"seller_id","seller_zip_code_prefix","seller_city","seller_state"\n'


def scan(data: bytes, chunks: list[int] | None = None) -> ScanResult:
    s = CsvShapeScanner()
    if chunks is None:
        s.feed(data)
    else:
        pos = 0
        for size in chunks:
            s.feed(data[pos : pos + size])
            pos += size
        s.feed(data[pos:])
    return s.finish()


SIMPLE = [
    HEADER + b'a1,"01037",sao paulo,SP\n',
    HEADER + b'a1,"01037",sao paulo,SP',  # no final newline
    HEADER + b'a1,"01037","city, with ""quotes""",SP\r\n',
    HEADER + b'a1,,"",SP\n',  # NULL and empty string
    HEADER + b'a1,"multi\nline\r\nvalue",x,SP\n2,3,4,5\n',
    HEADER + b'a1,b,"\\.",SP\n',  # \. quoted mid-line is fine
    HEADER + b"a1,'; DROP TABLE raw.x; --,\\N,tab\there\n",
    b"\xef\xbb\xbf" + HEADER + b"a,b,c,d\n",  # BOM before a quoted header
    HEADER + b'"""lead",x,"trail""",SP\n',
    HEADER,  # header only: zero records
]


@pytest.mark.parametrize("data", SIMPLE, ids=range(len(SIMPLE)))
def test_simple_csv_is_trusted_and_counted_like_the_reader(data: bytes, tmp_path: Path) -> None:
    verdict = scan(data)
    assert verdict.ok, verdict.reason
    path = tmp_path / "olist_sellers_dataset.csv"
    path.write_bytes(data)
    assert verdict.records == sum(1 for _ in iter_records(path, contract_for("sellers")))


NOT_SIMPLE = {
    "quote inside an unquoted field": HEADER + b'a1,ab"c,x,SP\n',
    "text after a closing quote": HEADER + b'a1,"ab"c,x,SP\n',
    "quote after a space": HEADER + b'a1, "ab",x,SP\n',
    "nul byte": HEADER + b"a1,a\x00b,x,SP\n",
    "end marker line": HEADER + b"a1,b,c,SP\n\\.\nmore,1,2,3\n",
    "end marker at the end": HEADER + b"a1,b,c,SP\n\\.",
    "end marker inside a quoted field": HEADER + b'a1,"x\n\\.\ny",c,SP\n',
    "unterminated quote": HEADER + b'a1,"open,x,SP\n',
}


@pytest.mark.parametrize("name", NOT_SIMPLE)
def test_bytes_postgres_would_read_differently_are_rejected(name: str) -> None:
    verdict = scan(NOT_SIMPLE[name])
    assert not verdict.ok
    assert verdict.reason


@pytest.mark.parametrize("data", [*SIMPLE, *NOT_SIMPLE.values()])
def test_the_verdict_does_not_depend_on_chunk_boundaries(data: bytes) -> None:
    whole = scan(data)
    one_byte = scan(data, [1] * len(data))
    assert (one_byte.ok, one_byte.records) == (whole.ok, whole.records)
    rnd = random.Random(len(data))
    for _ in range(20):
        sizes = [rnd.randint(1, 7) for _ in range(len(data) // 2)]
        split = scan(data, sizes)
        assert (split.ok, split.records) == (whole.ok, whole.records)


def test_a_real_file_is_trusted_with_its_record_count(realdata: Path) -> None:
    # Reviews: CRLF line ends and line breaks inside quoted text.
    path = realdata / "olist_order_reviews_dataset.csv"
    s = CsvShapeScanner()
    with path.open("rb") as f:
        while chunk := f.read(4096):
            assert s.feed(chunk), s.failed
    assert s.finish() == ScanResult(True, 6123, "")
