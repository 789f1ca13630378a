from __future__ import annotations

from pathlib import Path

import pytest

from olist_pipeline.config import load_settings
from olist_pipeline.contracts.sources import CONTRACTS
from olist_pipeline.data.datadir import MARKER, missing_files, source_dir
from olist_pipeline.data.reader import MissingFileError


def test_a_real_folder_must_hold_all_nine_files(tmp_path: Path) -> None:
    (tmp_path / CONTRACTS[0].file_name).write_text("x")
    settings = load_settings({"OLIST_DATA_DIR": str(tmp_path), "OLIST_STATE_DIR": str(tmp_path)})
    with pytest.raises(MissingFileError, match=r"olist_orders_dataset\.csv") as exc:
        source_dir(settings)
    assert CONTRACTS[0].file_name not in str(exc.value)
    assert exc.value.exit_code == 2
    with pytest.raises(MissingFileError, match="does not exist"):
        source_dir(settings, tmp_path / "nope")


def test_without_a_folder_generated_data_is_made_once(tmp_path: Path) -> None:
    settings = load_settings({"OLIST_STATE_DIR": str(tmp_path)})
    first = source_dir(settings, scale=0.005, seed=3)
    assert missing_files(first) == [] and (first / MARKER).is_file()
    stamp = (first / CONTRACTS[0].file_name).stat().st_mtime_ns
    assert source_dir(settings, scale=0.005, seed=3) == first
    assert (first / CONTRACTS[0].file_name).stat().st_mtime_ns == stamp
    # An explicit folder wins over generated data.
    assert source_dir(settings, first) == first.resolve()


def test_a_run_folder_fills_what_a_real_folder_lacks_from_generated_data(tmp_path: Path) -> None:
    from olist_pipeline.data.datadir import DataDirError, ensure_generated, run_folder

    settings = load_settings({"OLIST_STATE_DIR": str(tmp_path / "state")})
    with pytest.raises(DataDirError, match="not a folder"):
        run_folder(settings, tmp_path / "nope", scale=0.005, seed=3)
    real = tmp_path / "real"
    real.mkdir()
    with pytest.raises(DataDirError, match="holds none of the 9"):
        run_folder(settings, real, scale=0.005, seed=3)
    orders = next(c for c in CONTRACTS if c.table == "orders")
    (real / orders.file_name).write_text("mine")
    folder, origin = run_folder(settings, real, scale=0.005, seed=3)
    generated = ensure_generated(settings, 0.005, 3)
    assert (folder / orders.file_name).resolve() == (real / orders.file_name).resolve()
    for c in CONTRACTS:
        if c is not orders:
            assert (folder / c.file_name).resolve() == (generated / c.file_name).resolve()
    head, _, filled = origin.partition("; generated: ")
    assert head == f"real files in {real.resolve()}"
    assert filled.split(", ") == [c.table for c in CONTRACTS if c is not orders]
    assert run_folder(settings, None, scale=0.005, seed=3) == (
        generated,
        "generated (scale 0.005, seed 3)",
    )
