"""Spark application: build the staging layer (`spark-submit spark-apps/staging.py --run-id RID`).

Thin adapter: the logic is olist_pipeline.transform.staging; the exit code is non-zero on any
error so a failed driver never looks like success.
"""

from __future__ import annotations

import sys

from olist_pipeline.transform.jobs import spark_main


def main(argv: list[str] | None = None) -> int:
    return spark_main("staging", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
