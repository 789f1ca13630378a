"""Daily increments: order versions, where each row lands, and the union = the unsplit data."""

from __future__ import annotations

from pathlib import Path

import pytest

from olist_pipeline.contracts.sources import CONTRACTS, contract_for
from olist_pipeline.data.generator import generate
from olist_pipeline.data.reader import MissingFileError, iter_records, read_rows
from olist_pipeline.data.split import (
    FIRST,
    MARKER,
    collapse,
    newest_rows,
    order_versions,
    split,
    split_days,
)
from olist_pipeline.errors import UsageError

ORDERS = contract_for("orders")


def _order(status: str, purchase: str, approved: str | None, carrier: str | None,
           delivered: str | None) -> tuple[str | None, ...]:  # fmt: skip
    return ("o1", "c1", status, purchase, approved, carrier, delivered, "2018-01-20 00:00:00")


def test_a_delivered_order_has_one_version_per_day_a_timestamp_falls_on() -> None:
    row = _order("delivered", "2018-01-01 10:00:00", "2018-01-01 11:00:00",
                 "2018-01-03 09:00:00", "2018-01-09 15:00:00")  # fmt: skip
    versions = order_versions(row, ORDERS)
    assert [d for d, _ in versions] == ["2018-01-01", "2018-01-03", "2018-01-09"]
    first, shipped = versions[0][1], versions[1][1]
    assert first == _order("approved", "2018-01-01 10:00:00", "2018-01-01 11:00:00", None, None)
    assert shipped == _order(
        "shipped", "2018-01-01 10:00:00", "2018-01-01 11:00:00", "2018-01-03 09:00:00", None
    )
    assert versions[-1][1] is None  # the source record itself, with its final status


def test_an_order_known_only_at_purchase_has_a_single_version() -> None:
    row = _order("canceled", "2018-02-01 10:00:00", None, None, None)
    assert order_versions(row, ORDERS) == [("2018-02-01", None)]


def test_a_timestamp_before_the_purchase_is_known_on_the_purchase_day() -> None:
    row = _order("delivered", "2018-03-05 10:00:00", "2018-03-06 10:00:00",
                 "2018-03-01 10:00:00", "2018-03-10 10:00:00")  # fmt: skip
    versions = order_versions(row, ORDERS)
    assert [d for d, _ in versions] == ["2018-03-05", "2018-03-06", "2018-03-10"]
    # Carrier (dated before the purchase) is filled from the first version on.
    assert versions[0][1] == _order("shipped", "2018-03-05 10:00:00", None,
                                    "2018-03-01 10:00:00", None)  # fmt: skip


def test_an_order_without_a_readable_purchase_goes_to_the_first_folder() -> None:
    row = _order("created", "not a date", None, None, None)
    assert order_versions(row, ORDERS) == [(FIRST, None)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("split") / "full"
    generate(out, scale=0.003, seed=5)
    return out


@pytest.fixture(scope="module")
def days(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("split") / "days"
    split(source, out)
    return out


def _source_newest(src: Path) -> dict[str, dict[tuple[str | None, ...], tuple[str | None, ...]]]:
    return newest_rows([src])


def test_the_union_of_the_day_folders_newest_winning_equals_the_source(
    source: Path, days: Path
) -> None:
    folders = split_days(days)
    assert len(folders) > 30
    union, whole = newest_rows(folders), _source_newest(source)
    for c in CONTRACTS:
        assert union[c.table] == whole[c.table], c.table
    # Folder order matters: oldest-wins would keep earlier order versions.
    assert newest_rows(folders[::-1])["orders"] != whole["orders"]
    # And the collapsed folder holds the same rows as the source, table by table.
    collapsed = collapse(folders, days.parent / "collapsed")
    assert newest_rows([collapsed]) == whole


def test_every_folder_is_a_complete_source_in_the_original_format(source: Path, days: Path) -> None:
    folders = split_days(days)
    for c in CONTRACTS:
        src_bytes = (source / c.file_name).read_bytes()
        header, crlf = src_bytes.split(b"\n", 1)[0].rstrip(b"\r"), b"\r\n" in src_bytes
        for folder in folders:
            body = (folder / c.file_name).read_bytes()
            where = (folder.name, c.table)
            assert body.split(b"\n", 1)[0].rstrip(b"\r") == header, where  # BOM included
            if b"\n" in body:
                assert (b"\r\n" in body) == crlf, where
            # The final newline as in the source; a header-only file of a format
            # without one (the translation file) is the header alone.
            assert body.endswith(b"\n") == src_bytes.endswith(b"\n"), where
            assert all(r.ok for r in iter_records(folder / c.file_name, c))
    # Geolocation and the translation arrive whole, byte for byte, on the first day.
    for table in ("geolocation", "category_translation"):
        name = contract_for(table).file_name
        assert (folders[0] / name).read_bytes() == (source / name).read_bytes()
        assert all(sum(1 for _ in read_rows(f / name, contract_for(table))) == 0
                   for f in folders[1:])  # fmt: skip
    assert (days / MARKER).is_file()


def test_rows_land_on_the_day_they_became_known(days: Path) -> None:
    folders = split_days(days)
    seen_orders: set[str] = set()
    seen_customers: set[str] = set()
    status_updates = 0
    for folder in folders:
        day = folder.name
        orders = list(read_rows(folder / ORDERS.file_name, ORDERS))
        for o in orders:
            assert o[3] is not None and o[3][:10] <= day  # never before the purchase
            for ts in o[4:7]:
                assert ts is None or ts[:10] <= day or ts[:10] < o[3][:10]  # known by then
            status_updates += o[0] in seen_orders
        new = {o[0] for o in orders if o[0] not in seen_orders}
        for o in orders:
            if o[0] in new:
                assert o[3] is not None and o[3][:10] == day  # first version: purchase day
        seen_orders |= {o[0] or "" for o in orders}
        items = list(
            read_rows(folder / "olist_order_items_dataset.csv", contract_for("order_items"))
        )
        assert {i[0] for i in items} <= new  # items come with their new order
        customers = read_rows(folder / "olist_customers_dataset.csv", contract_for("customers"))
        seen_customers |= {c[0] or "" for c in customers}
        assert {o[1] for o in orders} <= seen_customers  # a customer precedes its orders
        reviews = read_rows(
            folder / "olist_order_reviews_dataset.csv", contract_for("order_reviews")
        )
        for r in reviews:
            assert r[1] in seen_orders
            assert r[6] is None or r[6][:10] <= day
    assert status_updates > 0  # later versions exist (shipped, delivered...)


def test_split_refuses_an_output_folder_that_is_not_a_split(source: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an earlier split"):
        split(source, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_split_refuses_an_output_folder_overlapping_the_source(days: Path) -> None:
    first = split_days(days)[0]
    with pytest.raises(UsageError, match="overlaps the source"):
        split(first, days)
    assert first.is_dir()


def test_split_refuses_an_incomplete_source(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="lacks"):
        (tmp_path / "src").mkdir()
        split(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_real_files_split_and_reunite(realdata: Path, tmp_path: Path) -> None:
    # The shared real files lack geolocation at the top level; its real derived copy fills in.
    src = tmp_path / "real"
    src.mkdir()
    for c in CONTRACTS:
        real = realdata / c.file_name
        (src / c.file_name).symlink_to(
            real if real.is_file() else realdata / "derived" / c.file_name
        )
    split(src, tmp_path / "days")
    folders = split_days(tmp_path / "days")
    assert len(folders) > 100
    assert newest_rows(folders) == newest_rows([src])


def test_a_start_day_gathers_the_history_into_one_initial_folder(
    source: Path, days: Path, tmp_path: Path
) -> None:
    start = split_days(days)[len(split_days(days)) // 2].name
    split(source, tmp_path / "from", start)
    folders = split_days(tmp_path / "from")
    assert folders[0].name == start
    assert [f.name for f in folders[1:]] == [f.name for f in split_days(days) if f.name > start]
    # One version per order in the initial load, and the union is still the source.
    ids = [o[0] for o in read_rows(folders[0] / ORDERS.file_name, ORDERS)]
    assert len(ids) == len(set(ids)) > 0
    assert newest_rows(folders) == newest_rows([source])
    with pytest.raises(UsageError, match="not a day"):
        split(source, tmp_path / "bad", "2018-13-01")
