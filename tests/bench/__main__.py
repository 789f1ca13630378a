"""`make bench`: run every benchmark module (tests/bench/bench_*.py).

Each module has a ``main() -> None`` that measures its figure and a baseline
in the same run and prints both; benchmarks never assert timings.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.bench as package


def main(argv: list[str]) -> int:
    wanted = set(argv)
    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_")
    )
    if wanted:
        names = [n for n in names if n in wanted or n.removeprefix("bench_") in wanted]
    if not names:
        print("no benchmarks found")
        return 0
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        importlib.import_module(f"tests.bench.{name}").main()
        print(f"== {name} done in {time.monotonic() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
