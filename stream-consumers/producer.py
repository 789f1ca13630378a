"""Entry point of the replay producer (simulator job or demo).

    python stream-consumers/producer.py --data-dir /data --speed 86400
Arguments are those of ``olist stream produce``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from olist_pipeline.cli import main as olist


def main(argv: Sequence[str] | None = None) -> int:
    return olist(["stream", "produce", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
