from __future__ import annotations

import csv
from pathlib import Path

import pytest

from olist_pipeline.contracts.sources import CONTRACTS, TABLES, LogicalType, contract_for


def test_nine_source_files_with_unique_names() -> None:
    assert len(CONTRACTS) == 9
    assert len(set(TABLES)) == 9
    assert len({c.file_name for c in CONTRACTS}) == 9


def test_primary_keys_and_accepted_values_refer_to_real_columns() -> None:
    for c in CONTRACTS:
        for key in c.primary_key:
            assert key in c.header, (c.table, key)
        for col in c.columns:
            if col.type is LogicalType.ENUM:
                assert col.accepted, f"{c.table}.{col.name} is an enum without accepted values"


def test_original_misspellings_are_kept() -> None:
    header = contract_for("products").header
    assert "product_name_lenght" in header and "product_description_lenght" in header


def test_lookup_by_file_or_table() -> None:
    assert contract_for("olist_orders_dataset.csv") is contract_for("orders")
    with pytest.raises(KeyError, match="unknown Olist table"):
        contract_for("nope")


@pytest.mark.parametrize(
    "contract", [c for c in CONTRACTS if c.table != "geolocation"], ids=lambda c: c.table
)
def test_header_matches_the_real_file(contract, realdata: Path) -> None:  # type: ignore[no-untyped-def]
    # The geolocation copy in shared/ is a derived, re-written file (see MANIFEST.md).
    with (realdata / contract.file_name).open(encoding="utf-8-sig", newline="") as f:
        assert tuple(next(csv.reader(f))) == contract.header


def test_every_built_table_is_declared_once_checked_and_granted() -> None:
    from olist_pipeline.contracts.tables import LAYER_TABLES, MARTS_TABLES, STAGING_TABLES
    from olist_pipeline.db.privileges import MATRIX
    from olist_pipeline.dq.warehouse_checks import MARTS

    assert STAGING_TABLES == TABLES
    for layer, tables in LAYER_TABLES.items():
        assert len(set(tables)) == len(tables), layer
        assert {f"{layer}.{t}" for t in tables} <= set(MATRIX), layer
    assert set(MARTS) == set(MARTS_TABLES)
