"""A fast shape check of CSV bytes on their way to ``COPY ... FORMAT csv``.

The fast load path streams a file's original bytes into PostgreSQL's own CSV
parser. That is only correct when PostgreSQL and our reader
(:mod:`olist_pipeline.sources.reader`, the contract's single way in) would
read the same values, which holds for "simple" CSV: every quote either opens
a field, closes it, or is doubled inside a quoted field. They differ on a
quote inside an unquoted field (``ab"c``: PostgreSQL opens a quoted section
there, the reader keeps the character) and PostgreSQL 15 ends the data at a
line holding only ``\\.``. This scanner rejects both, plus NUL bytes, and
counts records independently of the server; whatever it or the server
rejects goes to the per-record path, which decides record by record.

Everything here runs at C speed over whole chunks (``bytes.split``,
``bytes.join``, one regex search, ``bytes.count``); the only Python-level work
is per chunk, never per row. Undecodable bytes, field counts and unterminated
quotes are left to the server, which rejects them during the same COPY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUOTE = b'"'
_BOM = b"\xef\xbb\xbf"
# In the "shape" of a chunk every quoted run is replaced by one NUL (which the
# data cannot contain: NUL is rejected first). A run must follow a field start
# (comma, line feed, start of data) and be followed by a field end (comma, CR,
# LF, end of data); two adjacent runs are a doubled quote inside one field.
_BAD_SHAPE = re.compile(rb"[^,\n\x00]\x00|\x00[^,\r\n\x00]")
# PostgreSQL 15 treats a line holding only \\. as the end of CSV data from STDIN.
_END_MARKER = re.compile(rb"\n\\\.(?:\r?\n|\Z)")


@dataclass(frozen=True)
class ScanResult:
    ok: bool
    records: int  # data records (header excluded); meaningful only when ok
    reason: str  # why the fast path cannot be trusted (empty when ok)


class CsvShapeScanner:
    """Feed a file's bytes chunk by chunk; :meth:`finish` says if COPY may be trusted.

    The first line is taken as the header (not counted). A leading UTF-8 BOM
    is skipped, as the reader does.
    """

    __slots__ = ("_bad", "_first", "_head", "_in_quote", "_last", "_newlines", "_tail")

    def __init__(self) -> None:
        self._in_quote = False
        self._last = b"\n"  # last byte of the shape so far: data starts a field
        self._newlines = 0  # line feeds outside quoted fields
        self._tail = b"\n"  # last bytes of the data, for checks across chunks
        self._first = True
        self._head = b""
        self._bad = ""

    @property
    def failed(self) -> str:
        return self._bad

    def feed(self, chunk: bytes) -> bool:
        """Check one chunk; False (and :attr:`failed` set) once the data is not simple."""
        if self._bad or not chunk:
            return not self._bad
        data = chunk
        if self._first:
            data = self._head + data
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._head = data  # cannot tell a BOM yet
                return True
            self._first = False
            self._head = b""
            if data.startswith(_BOM):
                data = data[3:]
        return self._scan(data)

    def _scan(self, data: bytes) -> bool:
        if not data:
            return True
        if b"\x00" in data:
            self._bad = "nul_byte: the file contains a NUL byte"
            return False
        # Across the chunk boundary first (cheap), then inside the chunk.
        if _END_MARKER.search(self._tail + data[:4]) or (
            b"\\." in data and _END_MARKER.search(data)
        ):
            self._bad = "end_marker: a line holds only \\. (PostgreSQL's end of data)"
            return False
        segments = data.split(_QUOTE)
        outside = segments[1::2] if self._in_quote else segments[0::2]
        ends_inside = self._in_quote != (len(segments) % 2 == 0)
        shape = b"\x00".join(outside)
        if ends_inside and len(segments) > 1:
            shape += b"\x00"
        if shape:
            if _BAD_SHAPE.search(self._last + shape[:1]) or _BAD_SHAPE.search(shape):
                self._bad = "quote: a quote inside an unquoted field or after a closing quote"
                return False
            self._last = shape[-1:]
        self._newlines += shape.count(b"\n")
        self._in_quote = ends_inside
        self._tail = data[-4:] if len(data) >= 4 else (self._tail + data)[-4:]
        return True

    def finish(self) -> ScanResult:
        """The verdict once every chunk was fed."""
        if self._first and self._head:  # fewer bytes than a BOM in all
            self._first = False
            self._scan(self._head)
        if self._bad:
            return ScanResult(False, 0, self._bad)
        if self._in_quote:
            return ScanResult(False, 0, "unterminated_quote: the file ends inside a quoted field")
        lines = self._newlines
        # A last line without its terminator is still a record.
        if not self._tail.endswith(b"\n") and not self._first:
            lines += 1
        return ScanResult(True, max(lines - 1, 0), "")
