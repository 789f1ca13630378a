"""``olist data generate | profile``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK

_START_HELP = (
    "with a split: an initial load; everything known by the end of this day lands in its "
    "folder (newest version per key), daily folders follow (default: the data's first day)"
)


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="Olist source files: generate synthetic data, profile")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    gen = dsub.add_parser(
        "generate",
        help="write the 9 Olist files (original dialect, real quirks) for a scale and seed",
    )
    gen.add_argument(
        "--scale", type=float, default=0.01, help="1.0 = real row counts (default 0.01)"
    )
    gen.add_argument("--seed", type=int, default=42, help="same seed, same bytes (default 42)")
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: <state dir>/data/generated-scale<S>-seed<N>[-daily])",
    )
    gen.add_argument("--no-quirks", action="store_true", help="clean data: switch every quirk off")
    gen.add_argument(
        "--without-quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="switch one quirk off (repeatable); `--list-quirks` names them",
    )
    gen.add_argument("--list-quirks", action="store_true", help="print the quirk names and exit")
    gen.add_argument(
        "--split",
        choices=("daily",),
        default=None,
        help="write daily increments instead: one folder per day, OUT/YYYY-MM-DD/ "
        "(see `olist data split`)",
    )
    gen.add_argument("--start", default=None, metavar="YYYY-MM-DD", help=_START_HELP)
    gen.set_defaults(func=_generate)

    spl = dsub.add_parser(
        "split",
        help="split a folder of Olist files into daily increments OUT/YYYY-MM-DD/",
        description="Write one folder per day holding, in the source's file format, the rows "
        "that became known that day (new orders with items and payments, later versions of "
        "an order when its status changes, reviews when answered, customers, sellers and "
        "products when first seen; geolocation and the translation in the first folder).",
    )
    spl.add_argument("src", type=Path, help="folder holding the 9 Olist CSV files")
    spl.add_argument("--out", type=Path, required=True, help="folder of the day folders")
    spl.add_argument("--start", default=None, metavar="YYYY-MM-DD", help=_START_HELP)
    spl.set_defaults(func=_split)

    prof = dsub.add_parser(
        "profile",
        help="row counts, key uniqueness, nulls, distributions and quirks of a data folder",
    )
    prof.add_argument("dir", type=Path, help="folder holding the 9 Olist CSV files")
    prof.add_argument("--json", action="store_true", help="print the figures as JSON")
    prof.add_argument(
        "--check",
        action="store_true",
        help="compare with the real data set's figures; exit 1 naming the figures outside "
        "their tolerance",
    )
    prof.add_argument(
        "--no-quirks", action="store_true", help="with --check: expect every quirk to be absent"
    )
    prof.set_defaults(func=_profile)


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.data.datadir import generated_dir, write_marker
    from olist_pipeline.data.generator import Quirks, generate

    if args.list_quirks:
        print("\n".join(Quirks.names()))
        return EXIT_OK
    quirks = (Quirks.none() if args.no_quirks else Quirks()).without(*args.without_quirk)
    out = args.out or generated_dir(settings, args.scale, args.seed)
    if args.split:
        # Never the full data set's cache folder: the day folders get their own.
        out = args.out or out.with_name(f"{out.name}-{args.split}")
        return _generate_split(out, args.scale, args.seed, quirks, args.start)
    result = generate(out, scale=args.scale, seed=args.seed, quirks=quirks)
    on = [name for name in Quirks.names() if getattr(quirks, name)]
    write_marker(out, args.scale, args.seed, result.rows, quirks=on)
    total = sum(result.rows.values())
    for table, n in result.rows.items():
        print(f"{table:<22} {n:>10,}")
    print(
        f"wrote {total:,} rows to {out} in {result.seconds:.1f}s "
        f"({total / max(result.seconds, 1e-9):,.0f} rows/s); quirks: "
        f"{'all' if len(on) == len(Quirks.names()) else ', '.join(on) or 'none'}"
    )
    return EXIT_OK


def _generate_split(out: Path, scale: float, seed: int, quirks: Any, start: str | None) -> int:
    import shutil

    from olist_pipeline.data.generator import generate

    # The whole data set first (constant memory), then split; the full copy is scratch.
    full = out.resolve().with_name(f".{out.name}.full")
    shutil.rmtree(full, ignore_errors=True)
    try:
        generate(full, scale=scale, seed=seed, quirks=quirks)
        return _report_split(full, out, start)
    finally:
        shutil.rmtree(full, ignore_errors=True)


def _split(args: argparse.Namespace, settings: Settings) -> int:
    return _report_split(args.src, args.out, args.start)


def _report_split(src: Path, out: Path, start: str | None = None) -> int:
    from olist_pipeline.data.split import split

    result = split(src, out, start)
    total = sum(sum(d.values()) for d in result.rows.values())
    for table, per_day in result.rows.items():
        print(f"{table:<22} {sum(per_day.values()):>10,}")
    print(
        f"wrote {total:,} rows in {len(result.days)} day folders "
        f"({result.days[0]} .. {result.days[-1]}) to {out} in {result.seconds:.1f}s; "
        f"{result.extra_versions:,} later order versions"
    )
    return EXIT_OK


def _profile(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.data.datadir import require_complete
    from olist_pipeline.data.profile import EXPECTED, check, profile

    figures = profile(require_complete(args.dir))
    failures = check(figures, quirks=not args.no_quirks) if args.check else []
    if args.json:
        payload: dict[str, Any] = {"figures": figures}
        if args.check:
            payload["failures"] = [f.__dict__ for f in failures]
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        expected = {e.name: e.describe(not args.no_quirks) for e in EXPECTED}
        failed = {f.name for f in failures}
        print(f"{'figure':<58} {'value':>14}  expected")
        for name in sorted(figures):
            value = figures[name]
            text = f"{value:,.0f}" if float(value).is_integer() else f"{value:.4f}"
            mark = "  FAIL" if name in failed else ""
            print(f"{name:<58} {text:>14}  {expected.get(name, '')}{mark}".rstrip())
    if args.check:
        if failures:
            for f in failures:
                print(f"FAIL {f.name}: found {f.found}, expected {f.expected}")
            print(f"{len(failures)} figure(s) outside their tolerance")
            return EXIT_FAILURE
        print(f"profile check passed: {len(EXPECTED)} figures within tolerance")
    return EXIT_OK
