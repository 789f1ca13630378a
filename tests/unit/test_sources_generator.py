from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from olist_pipeline.contracts.sources import CONTRACTS, LogicalType, contract_for
from olist_pipeline.data.dialect import render
from olist_pipeline.data.generator import Quirks, generate
from olist_pipeline.data.profile import profile
from olist_pipeline.data.reader import iter_records, read_rows
from olist_pipeline.errors import UsageError

SCALE = 0.01
SEED = 11


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "s"
    generate(out, scale=SCALE, seed=SEED)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "clean"
    generate(out, scale=SCALE, seed=SEED, quirks=Quirks.none())
    return out


def test_writes_the_nine_files_at_the_scaled_row_counts(tmp_path: Path) -> None:
    result = generate(tmp_path, scale=SCALE, seed=SEED)
    assert set(result.rows) == {c.table for c in CONTRACTS}
    assert result.rows["orders"] == result.rows["customers"] == round(99_441 * SCALE)
    assert result.rows["products"] == round(32_951 * SCALE)
    assert result.rows["sellers"] == round(3_095 * SCALE)
    assert abs(result.rows["geolocation"] - 1_000_163 * SCALE) / (1_000_163 * SCALE) < 0.01
    for c in CONTRACTS:
        assert (tmp_path / c.file_name).is_file()


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.table)
def test_round_trip_rows_are_identical(contract, small: Path) -> None:  # type: ignore[no-untyped-def]
    path = small / contract.file_name
    ours = list(read_rows(path, contract))
    # An independent parse of the same bytes (Python's csv, BOM removed).
    with path.open(encoding="utf-8-sig", newline="") as f:
        theirs = list(csv.reader(f))
    assert tuple(theirs[0]) == contract.header
    assert [["" if v is None else v for v in row] for row in ours] == theirs[1:]
    # And writing the rows back under the dialect rule gives the same bytes.
    assert render(contract, ours) == path.read_bytes()


def test_original_dialect_details(small: Path) -> None:
    translation = (small / contract_for("category_translation").file_name).read_bytes()
    assert translation.startswith(b"\xef\xbb\xbfproduct_category_name,")
    assert b"\r\n" in translation and not translation.endswith(b"\n")
    review_file = small / contract_for("order_reviews").file_name
    reviews = review_file.read_bytes()
    assert reviews.endswith(b"\r\n") and reviews.count(b"\r\n") == reviews.count(b"\n")
    records = iter_records(review_file, contract_for("order_reviews"))
    embedded = [r for r in records if "\n" in r.raw]
    assert embedded, "some review messages hold CRLF line breaks"
    for line in reviews.split(b"\r\n")[1:50]:
        if line:
            assert re.match(rb'^"[0-9a-f]{32}","[0-9a-f]{32}",[1-5],', line)
    orders = (small / contract_for("orders").file_name).read_text("utf-8").splitlines()
    assert orders[0].startswith('"order_id","customer_id"')
    for line in orders[1:200]:
        first = line.split(",")[0]
        # Ids are quoted exactly when they start with a digit.
        assert re.fullmatch(r'"[0-9][0-9a-f]{31}"|[a-f][0-9a-f]{31}', first), first


def test_values_have_their_contract_types(small: Path) -> None:
    patterns = {
        LogicalType.ID: r"[0-9a-f]{32}",
        LogicalType.MONEY: r"\d+\.\d\d",
        LogicalType.TIMESTAMP: r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
        LogicalType.ZIP: r"\d{5}",
        LogicalType.INT: r"\d+",
        LogicalType.FLOAT: r"-?\d+\.\d+(e-?\d+)?",
        LogicalType.STATE: r"[A-Z]{2}",
    }
    for contract in CONTRACTS:
        for row in read_rows(small / contract.file_name, contract):
            for col, value in zip(contract.columns, row, strict=True):
                if value is None:
                    assert col.nullable, (contract.table, col.name)
                    continue
                pattern = patterns.get(col.type)
                if pattern:
                    assert re.fullmatch(pattern, value), (contract.table, col.name, value)
                if col.accepted:
                    assert value in col.accepted, (contract.table, col.name, value)


def test_same_seed_same_bytes_other_seed_other_data(small: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", scale=SCALE, seed=SEED)
    generate(tmp_path / "other", scale=SCALE, seed=SEED + 1)
    for c in CONTRACTS:
        again = (tmp_path / "again" / c.file_name).read_bytes()
        assert again == (small / c.file_name).read_bytes(), c.file_name
    orders = contract_for("orders").file_name
    assert (tmp_path / "other" / orders).read_bytes() != (small / orders).read_bytes()


def test_referential_integrity_and_keys(small: Path) -> None:
    f = profile(small)
    assert {k: v for k, v in f.items() if k.startswith(("orphans.", "duplicates."))} == {
        k: 0 for k in f if k.startswith(("orphans.", "duplicates."))
    }
    assert f["malformed_records"] == 0


def test_quirks_are_present_by_default(small: Path) -> None:
    f = profile(small)
    for name in (
        "quirk.duplicate_review_id_rows_per_order",
        "quirk.orders_without_items_per_order",
        "quirk.orders_without_payments_per_order",
        "quirk.not_defined_payments_per_order",
        "quirk.zero_payments_per_order",
        "quirk.carrier_before_purchase_per_order",
        "quirk.carrier_before_approval_per_order",
        "quirk.delivered_without_date_per_order",
        "quirk.products_without_category_share",
        "quirk.geolocation_duplicate_share",
        "quirk.geolocation_out_of_country_prefixes_share",
        "quirk.accented_geolocation_city_share",
        "quirk.dirty_seller_city_share",
    ):
        assert f[name] > 0, name
    assert f["quirk.untranslated_categories"] == 2
    # Fernando de Noronha is far east of the mainland but Brazilian.
    assert f["geolocation.noronha_out_of_country"] == 0
    geo = contract_for("geolocation")
    assert any(r[0] == "53990" for r in read_rows(small / geo.file_name, geo))


def test_no_quirks_gives_clean_data(clean: Path) -> None:
    f = profile(clean)
    quirks = {k: v for k, v in f.items() if k.startswith("quirk.")}
    assert quirks and all(v == 0 for v in quirks.values()), quirks
    sellers = contract_for("sellers")
    for row in read_rows(clean / sellers.file_name, sellers):
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", row[2] or ""), row


def test_one_quirk_can_be_switched_off(tmp_path: Path) -> None:
    generate(tmp_path, scale=SCALE, seed=SEED, quirks=Quirks().without("dirty_seller_cities"))
    f = profile(tmp_path)
    assert f["quirk.dirty_seller_city_share"] == 0
    assert f["quirk.duplicate_review_id_rows_per_order"] > 0
    with pytest.raises(UsageError, match="unknown quirk"):
        Quirks().without("no_such_quirk")


def test_scale_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scale"):
        generate(tmp_path, scale=0)
