"""Spark application: the live sales query (`spark-submit spark-apps/live_sales.py [ARGS]`).

Thin adapter: the logic is olist_pipeline.stream.live; the arguments are those of
`olist stream live`. Long-running; the exit code is non-zero when the query
fails, so the SparkApplication's OnFailure policy restarts it from its checkpoint.
"""

from __future__ import annotations

import sys

from olist_pipeline.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["stream", "live", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
