from __future__ import annotations

import base64

from olist_pipeline.stack.stack import _kafka_cluster_id


def test_kafka_cluster_ids_never_read_as_an_option() -> None:
    # 1 in 64 random ids starts with "-": in 5000 draws that shows up ~78 times.
    ids = [_kafka_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)


def test_free_ports_are_kept_as_they_are() -> None:
    from olist_pipeline.stack.service import free_port_block

    ports = {"A": 15432, "B": 19092}
    assert free_port_block(ports, in_use=lambda _port: False) == ports


def test_one_port_taken_shifts_the_whole_block_past_it() -> None:
    from olist_pipeline.stack.service import free_port_block

    taken = {15432, 15532, 19292}
    moved = free_port_block({"A": 15432, "B": 19092}, in_use=taken.__contains__)
    # +100 still puts A on a taken port, +200 puts B on one; +300 is the first free block.
    assert moved == {"A": 15732, "B": 19392}


def test_no_free_block_is_an_error_naming_the_fix() -> None:
    import pytest

    from olist_pipeline.stack.service import StackError, free_port_block

    with pytest.raises(StackError, match=r"OLIST_\*_PORT"):
        free_port_block({"A": 65400}, in_use=lambda _port: True)


def test_a_shifted_block_stays_below_the_ephemeral_range() -> None:
    import pytest

    from olist_pipeline.stack.service import StackError, free_port_block

    # Everything from 15500 up is taken: with the floor at 15700 no block fits,
    # although 65536 would leave room.
    with pytest.raises(StackError, match="15700"):
        free_port_block({"A": 15432, "B": 15500}, in_use=lambda port: port >= 15500, ceiling=15700)


def test_the_default_ports_lie_below_the_ephemeral_range() -> None:
    from pathlib import Path

    from olist_pipeline.airflow.ui import DEFAULT_PORT
    from olist_pipeline.config import PORT_DEFAULTS
    from olist_pipeline.stack.monitoring import DEFAULT_CONSUMER_PORTS
    from olist_pipeline.stack.service import ephemeral_floor

    # 32768 is Linux's default floor; a machine that lowered it still fails here.
    floor = min(32768, ephemeral_floor())
    ours = [*PORT_DEFAULTS.values(), *DEFAULT_CONSUMER_PORTS.values(), DEFAULT_PORT]
    assert max(ours) < floor
    assert ephemeral_floor(Path("/nonexistent")) == 65536


def test_every_port_setting_is_in_the_shiftable_table() -> None:
    from olist_pipeline.config import PORT_DEFAULTS, load_settings

    env = load_settings({}).to_env()
    port_vars = {k for k in env if k.endswith("_PORT") and k != "OLIST_METRICS_PORT"}
    assert port_vars == set(PORT_DEFAULTS)
    assert {k: int(env[k]) for k in PORT_DEFAULTS} == PORT_DEFAULTS
