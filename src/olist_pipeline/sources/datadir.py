"""Which folder of Olist files a run reads: a flag, ``OLIST_DATA_DIR``, or generated data."""

from __future__ import annotations

import json
from pathlib import Path

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import CONTRACTS
from olist_pipeline.sources.reader import MissingFileError

MARKER = "_generated.json"  # written last by `olist data generate`: the folder is complete


def missing_files(data_dir: Path) -> list[str]:
    return [c.file_name for c in CONTRACTS if not (data_dir / c.file_name).is_file()]


def require_complete(data_dir: Path) -> Path:
    """``data_dir`` if it holds all 9 source files, else a MissingFileError naming them."""
    if not data_dir.is_dir():
        raise MissingFileError(
            f"data folder {data_dir} does not exist; download the Kaggle data set "
            f"(see the README, 'Real data') or run `olist data generate --out {data_dir}`",
            data_dir,
        )
    missing = missing_files(data_dir)
    if missing:
        raise MissingFileError(
            f"data folder {data_dir} lacks {', '.join(missing)}; unzip the whole Kaggle "
            f"archive olistbr/brazilian-ecommerce there, or point OLIST_DATA_DIR elsewhere",
            data_dir,
        )
    return data_dir


def generated_dir(settings: Settings, scale: float, seed: int) -> Path:
    return settings.local.state_dir / "data" / f"generated-scale{scale:g}-seed{seed}"


def source_dir(
    settings: Settings, override: Path | str | None = None, *, scale: float = 0.01, seed: int = 42
) -> Path:
    """The folder to read: ``override``, else OLIST_DATA_DIR, else generated data.

    Generated data is made once per (scale, seed) under the state folder and
    reused; real folders are only checked, never written.
    """
    chosen = Path(override) if override else settings.data_dir
    if chosen is not None:
        return require_complete(chosen.resolve())
    out = generated_dir(settings, scale, seed)
    if not (out / MARKER).is_file():
        from olist_pipeline.sources.generator import generate

        result = generate(out, scale=scale, seed=seed)
        write_marker(out, scale, seed, result.rows, quirks=True)
    return out


def write_marker(
    out: Path, scale: float, seed: int, rows: dict[str, int], *, quirks: bool | list[str]
) -> None:
    (out / MARKER).write_text(
        json.dumps({"scale": scale, "seed": seed, "quirks": quirks, "rows": rows}, indent=2) + "\n",
        encoding="utf-8",
    )
