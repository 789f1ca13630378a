from __future__ import annotations

import base64

from olist_pipeline.local.stack import _kafka_cluster_id


def test_kafka_cluster_ids_never_read_as_an_option() -> None:
    # 1 in 64 random ids starts with "-": in 5000 draws that shows up ~78 times.
    ids = [_kafka_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
