"""Read Olist CSV files exactly as written: the raw layer's single way in.

The C ``csv`` module does the RFC-4180 parsing (quoted and bare ids, doubled
quotes, CR/LF inside quoted review text); a thin line feeder around it keeps
what ingestion needs for quarantine: each record's physical line number and
its raw text, and one error per malformed record instead of an exception.

Values are text as read, never converted: a zip prefix stays ``"01037"``
(or ``"1037"`` in a re-exported file; :func:`zero_pad_zip` is for staging).
An empty unquoted field is ``None``; a quoted empty field ``""`` stays ``""``.

Error codes of malformed records (``Record.error`` is ``"<code>: <message>"``):

- ``field_count``: not as many fields as the contract's header (also a blank line)
- ``undecodable``: bytes that are not UTF-8 (``raw`` shows them backslash-escaped)
- ``unterminated_quote``: a quoted field is not closed; only the line that opened
  it is reported, parsing goes on from the next physical line
- ``bad_quote``: a closing quote followed by something other than a delimiter
- ``nul_byte``: a NUL character inside the record
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO

from olist_pipeline.contracts.sources import SourceContract
from olist_pipeline.errors import EXIT_USAGE, OlistError

Values = tuple[str | None, ...]

_BOM = b"\xef\xbb\xbf"
# Stands in for a bare CR while the C parser runs (it would end the record
# there); put back afterwards, so values keep the CR exactly as in the file.
_CR_STAND_IN = "\ue000"
_UNDECODABLE = "\udfff"


class SourceFileError(OlistError):
    """A whole source file cannot be read as its contract says."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class MissingFileError(SourceFileError):
    exit_code = EXIT_USAGE


class EmptyFileError(SourceFileError):
    pass


class HeaderMismatchError(SourceFileError):
    def __init__(
        self, message: str, path: Path, expected: tuple[str, ...], found: tuple[str, ...]
    ) -> None:
        super().__init__(message, path)
        self.expected = expected
        self.found = found


class MalformedRecordError(SourceFileError):
    """Raised by :func:`read_rows` (strict mode) on the first malformed record."""

    def __init__(self, message: str, path: Path, record: Record) -> None:
        super().__init__(message, path)
        self.record = record


@dataclass(frozen=True, slots=True)
class Record:
    row_number: int  # 1-based data record, header excluded
    line_number: int  # 1-based physical line where the record starts (header is line 1)
    raw: str  # the record's text as in the file, without its line terminator
    values: Values | None  # None when the record is malformed
    error: str | None = None  # "<code>: <message>"

    @property
    def ok(self) -> bool:
        return self.error is None


def zero_pad_zip(value: str | None) -> str | None:
    """A zip prefix as 5-character text (re-exported files lost the leading zeros)."""
    if value is None:
        return None
    text = value.strip()
    return text.zfill(5) if text.isdigit() and len(text) < 5 else text


def iter_records(path: Path | str, contract: SourceContract) -> Iterator[Record]:
    """One :class:`Record` per CSV record of ``path``, malformed ones carrying ``error``.

    Raises:
        MissingFileError, EmptyFileError, HeaderMismatchError: before the first
        record, when the file as a whole cannot be read under ``contract``.
    """
    for row_number, line_number, raw, values, error in _parse(Path(path), contract):
        yield Record(row_number, line_number, raw, values, error)


def read_rows(path: Path | str, contract: SourceContract) -> Iterator[Values]:
    """The values of every record; raises :class:`MalformedRecordError` on a bad one."""
    p = Path(path)
    for row_number, line_number, raw, values, error in _parse(p, contract):
        if values is None:
            record = Record(row_number, line_number, raw, None, error)
            raise MalformedRecordError(
                f"{p}: record {row_number} (line {line_number}) is malformed: {error}. "
                f"Fix the file, or ingest it, which quarantines bad records.",
                p,
                record,
            )
        yield values


def _open(path: Path) -> IO[bytes]:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise MissingFileError(
            f"{path} does not exist; point OLIST_DATA_DIR (or --source) at a folder "
            f"holding the Olist CSV files, or generate them with `olist data generate`",
            path,
        ) from None
    except IsADirectoryError:
        raise MissingFileError(f"{path} is a folder, not a CSV file", path) from None
    return fh


class _Feeder:
    """Decodes physical lines, remembers the ones the current record used."""

    __slots__ = ("bad_cr", "buf", "undecodable")

    def __init__(self) -> None:
        self.buf: list[str] = []  # original text of the current record's lines
        self.undecodable: set[int] = set()  # index into buf
        self.bad_cr = False

    def physical(self, fh: IO[bytes]) -> Iterator[str]:
        first = True
        for chunk in fh:
            data = chunk
            if first:
                first = False
                if data.startswith(_BOM):
                    data = data[3:]
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError:
                # Marked by a lone surrogate (never the result of a decode), which
                # the feeder strips: keeps the hot path free of extra branches.
                yield _UNDECODABLE + data.decode("utf-8", "backslashreplace")

    def feed(self, lines: Iterable[str]) -> Iterator[str]:
        buf = self.buf
        append = buf.append
        for text in lines:
            line = text
            if line.startswith(_UNDECODABLE):
                line = line[1:]
                self.undecodable.add(len(buf))
            append(line)
            if "\r" in line:
                body = line[:-2] if line.endswith("\r\n") else line.rstrip("\r")
                if "\r" in body:
                    self.bad_cr = True
                    line = body.replace("\r", _CR_STAND_IN) + line[len(body) :]
            yield line


def _strip_terminator(text: str) -> str:
    if text.endswith("\n"):
        return text[:-2] if text.endswith("\r\n") else text[:-1]
    return text


def _quoted_flags(raw: str) -> list[bool]:
    """Which fields of a record's raw text start with a quote (slow path, rare)."""
    flags: list[bool] = []
    i, n = 0, len(raw)
    while True:
        if i < n and raw[i] == '"':
            flags.append(True)
            i += 1
            while i < n:
                if raw[i] == '"':
                    if i + 1 < n and raw[i + 1] == '"':
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        else:
            flags.append(False)
        comma = raw.find(",", i)
        if comma == -1:
            return flags
        i = comma + 1


def _values(row: list[str], raw: str) -> Values:
    if "" not in row:
        return tuple(row)
    if '""' not in raw:
        return tuple([v or None for v in row])
    flags = _quoted_flags(raw)
    if len(flags) != len(row):  # cannot happen for a clean parse; stay conservative
        return tuple([v or None for v in row])
    return tuple([v if (v or q) else None for v, q in zip(row, flags, strict=True)])


Parsed = tuple[int, int, str, Values | None, str | None]


def iter_parsed(path: Path | str, contract: SourceContract) -> Iterator[Parsed]:
    """:func:`iter_records` as plain tuples ``(row_number, line_number, raw, values, error)``.

    For hot loops: building a frozen dataclass per row costs about as much as
    the parse itself.
    """
    return _parse(Path(path), contract)


# One function on purpose: the per-record loop is the ingest hot path.
def _parse(path: Path, contract: SourceContract) -> Iterator[Parsed]:  # noqa: PLR0912, PLR0915
    with _open(path) as fh:
        feeder = _Feeder()
        buf = feeder.buf
        physical = feeder.physical(fh)
        reader = csv.reader(feeder.feed(physical), strict=True)
        width = len(contract.header)

        _check_header(reader, feeder, path, contract)
        next_line = 1 + len(buf)
        buf.clear()
        feeder.undecodable.clear()

        row_number = 0
        while True:
            try:
                for parsed in reader:
                    row = parsed
                    row_number += 1
                    nlines = len(buf)
                    raw = buf[0] if nlines == 1 else "".join(buf)
                    if raw[-1:] == "\n":
                        raw = raw[:-2] if raw[-2:] == "\r\n" else raw[:-1]
                    if feeder.bad_cr:
                        feeder.bad_cr = False
                        row = [v.replace(_CR_STAND_IN, "\r") for v in row]
                    if feeder.undecodable:
                        error: str | None = (
                            f"undecodable: bytes that are not UTF-8 on line "
                            f"{next_line + min(feeder.undecodable)}"
                        )
                        feeder.undecodable.clear()
                    elif "\x00" in raw:
                        error = "nul_byte: the record contains a NUL character"
                    elif len(row) != width:
                        error = (
                            "field_count: blank line"
                            if not row
                            else f"field_count: {len(row)} fields, the header has {width}"
                        )
                    else:
                        error = None
                    if error is None:
                        if "" not in row:
                            yield row_number, next_line, raw, tuple(row), None
                        else:
                            yield row_number, next_line, raw, _values(row, raw), None
                    else:
                        yield row_number, next_line, raw, None, error
                    next_line += nlines
                    buf.clear()
                return
            except csv.Error as exc:
                row_number += 1
                lines = list(buf)
                marked = [
                    _UNDECODABLE + t if i in feeder.undecodable else t for i, t in enumerate(lines)
                ]
                buf.clear()
                feeder.undecodable.clear()
                feeder.bad_cr = False
                if len(lines) > 1 or str(exc).startswith("unexpected end of data"):
                    # A quote opened on the first line and never closed properly:
                    # report that line alone and parse again from the next one.
                    yield (
                        row_number,
                        next_line,
                        _strip_terminator(lines[0]),
                        None,
                        "unterminated_quote: a quoted field opened on this line is not "
                        "closed" + (" before the end of the file" if len(lines) == 1 else ""),
                    )
                    next_line += 1
                    rest: Iterable[str] = chain(marked[1:], physical)
                else:
                    yield (
                        row_number,
                        next_line,
                        _strip_terminator(lines[0]) if lines else "",
                        None,
                        f"bad_quote: {exc}",
                    )
                    next_line += len(lines)
                    rest = physical
                reader = csv.reader(feeder.feed(rest), strict=True)


def _check_header(
    reader: Iterator[list[str]], feeder: _Feeder, path: Path, contract: SourceContract
) -> None:
    expected = contract.header
    # The header: line 1 (after an optional BOM).
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise HeaderMismatchError(
            f"{path}: the header line cannot be parsed as CSV ({exc}); expected the "
            f"{contract.table} header {','.join(expected)}",
            path,
            expected,
            (),
        ) from None
    if not header:
        raise EmptyFileError(
            f"{path} is empty (no header line); expected the {contract.file_name} "
            f"header {','.join(expected)}. Re-copy or re-generate the file.",
            path,
        )
    found = tuple(header)
    if found != expected or feeder.undecodable:
        raise HeaderMismatchError(_header_message(path, contract, found), path, expected, found)


def _header_message(path: Path, contract: SourceContract, found: tuple[str, ...]) -> str:
    expected = contract.header
    detail = ""
    for i, (e, f) in enumerate(zip(expected, found, strict=False), start=1):
        if e != f:
            detail = f" (column {i}: expected {e!r}, found {f!r})"
            break
    else:
        if len(found) != len(expected):
            detail = f" ({len(found)} columns, expected {len(expected)})"
    return (
        f"{path}: header does not match the {contract.table} contract{detail}; "
        f"expected {','.join(expected)}; found {','.join(found)}. Use the original "
        f"{contract.file_name} (Kaggle olistbr/brazilian-ecommerce) or `olist data generate`."
    )
