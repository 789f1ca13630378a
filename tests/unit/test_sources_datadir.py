from __future__ import annotations

from pathlib import Path

import pytest

from olist_pipeline.config import load_settings
from olist_pipeline.contracts.sources import CONTRACTS
from olist_pipeline.sources.datadir import MARKER, missing_files, source_dir
from olist_pipeline.sources.reader import MissingFileError


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
