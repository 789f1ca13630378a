from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from olist_pipeline.cli import main
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.data.dialect import render
from olist_pipeline.data.generator import Quirks, generate
from olist_pipeline.data.profile import EXPECTED, check, profile
from olist_pipeline.data.reader import read_rows


@pytest.fixture(scope="module")
def scale_01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("p") / "scale0.1"
    generate(out, scale=0.1, seed=2024)
    return out


@pytest.fixture(scope="module")
def figures_01(scale_01: Path) -> dict[str, float]:
    return profile(scale_01)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("p") / "scale0.01"
    generate(out, scale=0.01, seed=2024)
    return out


def test_generated_scale_01_matches_the_real_profile(figures_01: dict[str, float]) -> None:
    figures = figures_01
    failures = check(figures)
    assert failures == [], "\n".join(f"{f.name}: {f.found} vs {f.expected}" for f in failures)
    assert figures["rows.orders"] == 9_944
    assert figures["peak.month_2017_is_november"] == 1


def test_clean_scale_01_matches_with_quirks_expected_absent(tmp_path: Path) -> None:
    generate(tmp_path, scale=0.1, seed=7, quirks=Quirks.none())
    failures = check(profile(tmp_path), quirks=False)
    assert failures == [], "\n".join(f"{f.name}: {f.found} vs {f.expected}" for f in failures)


def test_check_names_the_figures_that_are_off(small: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(small, broken)
    # Every order becomes "delivered" and a tenth of the customers disappear.
    orders = contract_for("orders")
    rows = [(*r[:2], "delivered", *r[3:]) for r in read_rows(broken / orders.file_name, orders)]
    (broken / orders.file_name).write_bytes(render(orders, rows))
    customers = contract_for("customers")
    kept = list(read_rows(broken / customers.file_name, customers))[100:]
    (broken / customers.file_name).write_bytes(render(customers, kept))

    names = {f.name for f in check(profile(broken))}
    assert "share.order_status.delivered" in names
    assert "orphans.orders.customer_id" in names
    assert "ratio.customers_per_order" in names


def test_cli_profile_check_and_json(  # type: ignore[no-untyped-def]
    scale_01: Path, small: Path, tmp_path: Path, capsys
) -> None:
    assert main(["data", "profile", str(scale_01), "--check"]) == 0
    assert "profile check passed" in capsys.readouterr().out

    assert main(["data", "profile", str(small), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["figures"]["rows.orders"] == 994

    # Checked as clean data, the quirky folder fails, naming the quirk figures.
    assert main(["data", "profile", str(small), "--check", "--no-quirks"]) == 1
    out = capsys.readouterr().out
    assert "FAIL quirk.duplicate_review_id_rows_per_order" in out

    assert main(["data", "profile", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_generate_writes_files_and_a_marker(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "g"
    code = main(["data", "generate", "--scale", "0.01", "--seed", "5", "--out", str(out),
                 "--without-quirk", "dirty_seller_cities"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "orders" in text and "rows/s" in text
    marker = json.loads((out / "_generated.json").read_text())
    assert marker["seed"] == 5 and "dirty_seller_cities" not in marker["quirks"]
    assert marker["rows"]["orders"] == 994

    assert main(["data", "generate", "--list-quirks"]) == 0
    assert "geolocation_out_of_country" in capsys.readouterr().out
    assert main(["data", "generate", "--out", str(out), "--without-quirk", "bogus"]) == 2


def test_every_expectation_is_a_figure_the_profile_computes(
    figures_01: dict[str, float],
) -> None:
    assert [e.name for e in EXPECTED if e.name not in figures_01] == []
