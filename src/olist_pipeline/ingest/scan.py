"""A fast shape check of CSV bytes on their way to ``COPY ... FORMAT csv``.

The fast load path streams a file's original bytes into PostgreSQL's own CSV
parser. That is only correct when PostgreSQL and our reader
(:mod:`olist_pipeline.data.reader`, the contract's single way in) would
read the same values, which holds for "simple" CSV: every quote either opens
a field (after a comma, a line feed or the start of the data), closes it
(before a comma, CR, LF or the end of the data), or is doubled inside a
quoted field. They differ on a quote inside an unquoted field (``ab"c``:
PostgreSQL opens a quoted section there, the reader keeps the character), and
PostgreSQL 15 ends the data at a line holding only ``\\.``. This scanner
rejects both, plus NUL bytes, and counts records independently of the
server; whatever it or the server rejects goes to the per-record path, which
decides record by record. Undecodable bytes, field counts and unterminated
quotes are left to the server, which rejects them during the same COPY.

It runs vectorised over whole chunks (numpy over the byte buffer, no Python
work per row or per field), so it keeps pace with the server on another core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_QUOTE, _LF, _CR, _COMMA = 0x22, 0x0A, 0x0D, 0x2C
_BOM = b"\xef\xbb\xbf"
# What may come right before an opening quote / right after a closing quote.
# A quote on the other side is the other half of a doubled quote (parity tells
# opening from closing, so a quote there is always the matching kind).
_BEFORE_OPEN = np.zeros(256, dtype=bool)
_BEFORE_OPEN[[_COMMA, _LF, _QUOTE]] = True
_AFTER_CLOSE = np.zeros(256, dtype=bool)
_AFTER_CLOSE[[_COMMA, _LF, _CR, _QUOTE]] = True
_AFTER_CLOSE_SET = frozenset(int(b) for b in np.flatnonzero(_AFTER_CLOSE))
_BAD_QUOTE = "quote: a quote inside an unquoted field or text after a closing quote"
# PostgreSQL 15 treats a line holding only \. as the end of CSV data from STDIN.
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

    __slots__ = ("_bad", "_head", "_in_quote", "_last", "_newlines", "_started", "_tail")

    def __init__(self) -> None:
        self._in_quote = False
        self._last = _LF  # byte before the data so far: the start is a field start
        self._newlines = 0  # line feeds outside quoted fields
        self._tail = b"\n"  # last bytes of the data, for checks across chunks
        self._started = False
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
        if not self._started:
            data = self._head + data
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._head = data  # cannot tell a BOM yet
                return True
            self._started = True
            self._head = b""
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        return self._scan(data)

    def _fail(self, reason: str) -> bool:
        self._bad = reason
        return False

    def _scan(self, data: bytes) -> bool:
        if not data:
            return True
        if b"\x00" in data:
            return self._fail("nul_byte: the file contains a NUL byte")
        if (b"\\" in data or b"\\" in self._tail) and (
            _END_MARKER.search(self._tail + data[:4]) or _END_MARKER.search(data)
        ):
            return self._fail("end_marker: a line holds only \\. (PostgreSQL's end of data)")
        a = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(a == _QUOTE)
        if not self._quotes_delimited(a, quotes):
            return self._fail(_BAD_QUOTE)
        if len(quotes):
            first_open = 1 if self._in_quote else 0
            newlines = np.flatnonzero(a == _LF)
            # a line feed is outside quotes when an even number of quotes
            # (counting the open one carried in) come before it
            before = np.searchsorted(quotes, newlines) + first_open
            self._newlines += int(np.count_nonzero((before & 1) == 0))
            self._in_quote = (len(quotes) + first_open) % 2 == 1
        elif not self._in_quote:
            self._newlines += data.count(b"\n")
        self._last = data[-1]
        self._tail = data[-4:] if len(data) >= 4 else (self._tail + data)[-4:]
        return True

    def _quotes_delimited(self, a: np.ndarray, quotes: np.ndarray) -> bool:
        """Every opening quote follows a field start, every closing one precedes a field end."""
        if self._last == _QUOTE and not self._in_quote and int(a[0]) not in _AFTER_CLOSE_SET:
            return False  # the previous chunk ended with a closing quote
        if not len(quotes):
            return True
        first_open = 1 if self._in_quote else 0  # index in `quotes` of the first opening
        opening = quotes[first_open::2]
        closing = quotes[1 - first_open :: 2]
        if len(opening) and opening[0] == 0:
            if not _BEFORE_OPEN[self._last]:
                return False
            opening = opening[1:]
        if len(closing) and closing[-1] == len(a) - 1:
            closing = closing[:-1]  # its next byte is checked with the next chunk
        return bool(_BEFORE_OPEN[a[opening - 1]].all() and _AFTER_CLOSE[a[closing + 1]].all())

    def finish(self) -> ScanResult:
        """The verdict once every chunk was fed."""
        if not self._started and self._head:  # fewer bytes than a BOM in all
            self._started = True
            self._scan(self._head)
        if self._bad:
            return ScanResult(False, 0, self._bad)
        if self._in_quote:
            return ScanResult(False, 0, "unterminated_quote: the file ends inside a quoted field")
        lines = self._newlines
        # A last line without its terminator is still a record.
        if self._started and not self._tail.endswith(b"\n"):
            lines += 1
        return ScanResult(True, max(lines - 1, 0), "")
