"""Entry point that creates the declared topics (an init step before consumers start).

On the cluster Strimzi KafkaTopic resources do this; locally and in tests
``olist stream topics create`` does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from olist_pipeline.cli import main as olist


def main(argv: Sequence[str] | None = None) -> int:
    return olist(["stream", "topics", "create", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
