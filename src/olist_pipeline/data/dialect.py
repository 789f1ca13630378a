"""Write records the way the original Olist files do (the contract's Dialect).

The rule, established byte for byte on the real files (MANIFEST.md): a value
is double-quoted when it starts with a digit (ids starting 0-9, every zip
prefix, a city like ``"04482255"``) or when it must be (a comma, a quote or a
line break inside); columns in ``Dialect.always_quote`` are always quoted, and
where ``Dialect.digit_rule`` is off (reviews) free text is quoted only when it
must be.
Numbers and timestamps never start a quoted field because they are written
as they are, unquoted: they are given here as already-formatted text and
listed as such by the contract's logical types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from olist_pipeline.contracts.sources import LogicalType, SourceContract

# Logical types written bare even though they start with a digit.
_BARE = frozenset({LogicalType.INT, LogicalType.MONEY, LogicalType.FLOAT, LogicalType.TIMESTAMP})


def quote_value(text: str, digit_rule: bool = True) -> str:
    """A text value under the original rule."""
    if (
        (digit_rule and text[:1].isdigit())
        or "," in text
        or '"' in text
        or "\n" in text
        or "\r" in text
    ):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_record(contract: SourceContract, values: Sequence[str | None]) -> str:
    """One record's text (no line terminator); ``None`` is an empty field."""
    always = contract.dialect.always_quote
    digit_rule = contract.dialect.digit_rule
    out = []
    for col, v in zip(contract.columns, values, strict=True):
        if v is None:
            out.append("")
        elif col.name in always:
            out.append('"' + v.replace('"', '""') + '"')
        elif col.type in _BARE:
            out.append(v)
        else:
            out.append(quote_value(v, digit_rule))
    return ",".join(out)


def format_header(contract: SourceContract) -> str:
    if contract.dialect.quote_header:
        return ",".join(f'"{h}"' for h in contract.header)
    return ",".join(contract.header)


def render(contract: SourceContract, rows: Iterable[Sequence[str | None]]) -> bytes:
    """A whole file in the contract's dialect (BOM, line terminator, final newline)."""
    d = contract.dialect
    lines = [format_header(contract), *(format_record(contract, r) for r in rows)]
    text = d.line_terminator.join(lines) + (d.line_terminator if d.final_newline else "")
    return (b"\xef\xbb\xbf" if d.bom else b"") + text.encode("utf-8")
