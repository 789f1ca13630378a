"""Entry point of a stream consumer service (one exactly-once group member).

Container entrypoint / Deployment command:
    python stream-consumers/consumer.py --stream orders --metrics-host 0.0.0.0 --metrics-port 9000
Arguments are those of ``olist stream consume``; settings come from the
environment (OLIST_*). See stream-consumers/README.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from olist_pipeline.cli import main as olist


def main(argv: Sequence[str] | None = None) -> int:
    return olist(["stream", "consume", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
