"""`olist data generate`: time, rows/s and peak memory at scale 1 and 5.

Each measurement runs in a child process so its peak RSS (ru_maxrss of the
finished child, via os.wait4) is its own. Baseline, same run: a child that
writes the same number of rows of constant text with csv.writer, which is
the floor any generator writing these files in Python stands on. Memory
flat from scale 1 to 5 is what "constant memory" means here.

``BENCH_SCALES=1,5`` (default) picks the scales; ``BENCH_PROFILE=1`` also runs
the profile check on the scale-1 output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_BASELINE = """
import csv, sys
out, rows = sys.argv[1], int(sys.argv[2])
row = ["0a1b2c3d4e5f60718293a4b5c6d7e8f9", "1", "credit_card", "2", "123.45", "x" * 40]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    for _ in range(rows):
        w.writerow(row)
"""


def _child(argv: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS (MiB) and stdout of one child process."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def main() -> None:
    olist = str(Path(sys.executable).with_name("olist"))
    scales = [float(s) for s in os.environ.get("BENCH_SCALES", "1,5").split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        print(f"{'run':<26} {'rows':>11} {'wall s':>8} {'cpu s':>7} {'rows/s':>9} {'peak MiB':>9}")
        for scale in scales:
            out = work / f"s{scale:g}"
            wall, cpu, rss, text = _child(
                [olist, "data", "generate", "--scale", str(scale), "--seed", "1", "--out", str(out)]
            )
            rows = sum(
                int(line.split()[-1].replace(",", ""))
                for line in text.splitlines()
                if line
                and not line.startswith("wrote")
                and line.split()[-1].replace(",", "").isdigit()
            )
            print(
                f"{'generate scale ' + format(scale, 'g'):<26} {rows:>11,} {wall:>8.1f} "
                f"{cpu:>7.1f} {rows / wall:>9,.0f} {rss:>9.0f}"
            )
            bwall, bcpu, brss, _ = _child(
                [sys.executable, "-c", _BASELINE, str(work / "baseline.csv"), str(rows)]
            )
            print(
                f"{'baseline csv.writer':<26} {rows:>11,} {bwall:>8.1f} "
                f"{bcpu:>7.1f} {rows / bwall:>9,.0f} {brss:>9.0f}"
            )
            if scale == 1 and os.environ.get("BENCH_PROFILE"):
                pwall, _, prss, ptext = _child([olist, "data", "profile", str(out), "--check"])
                print(f"profile --check scale 1: {ptext.strip().splitlines()[-1]} "
                      f"({pwall:.1f}s, {prss:.0f} MiB)")  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
            (work / "baseline.csv").unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
