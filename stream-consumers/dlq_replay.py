"""Entry point of the dead-letter replay job.

    python stream-consumers/dlq_replay.py --stream orders --fix drop-unknown-fields
Arguments are those of ``olist stream dlq-replay``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from olist_pipeline.cli import main as olist


def main(argv: Sequence[str] | None = None) -> int:
    return olist(["stream", "dlq-replay", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
