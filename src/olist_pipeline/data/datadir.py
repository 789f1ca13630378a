"""Which folder of Olist files a run reads: a flag, ``OLIST_DATA_DIR``, or generated data."""

from __future__ import annotations

import json
from pathlib import Path

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import CONTRACTS
from olist_pipeline.data.reader import MissingFileError
from olist_pipeline.errors import UsageError

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


class DataDirError(UsageError):
    """The folder named for a run holds no Olist file."""


def generated_dir(settings: Settings, scale: float, seed: int) -> Path:
    return settings.local.state_dir / "data" / f"generated-scale{scale:g}-seed{seed}"


def ensure_generated(settings: Settings, scale: float, seed: int) -> Path:
    """Generated data for (scale, seed), made once under the state folder and reused."""
    out = generated_dir(settings, scale, seed)
    if not (out / MARKER).is_file():
        from olist_pipeline.data.generator import generate

        result = generate(out, scale=scale, seed=seed)
        write_marker(out, scale, seed, result.rows, quirks=True)
    return out


def run_folder(
    settings: Settings, data_dir: Path | None, *, scale: float, seed: int
) -> tuple[Path, str]:
    """The folder a whole run reads, and where it came from (said in its summary).

    No ``data_dir``: generated data. A folder with all 9 files: itself. A folder with
    some: a folder of links to its real files, the missing tables taken from generated
    data (linked, never copied, so the real files stay as they are).
    """
    if data_dir is None:
        return ensure_generated(settings, scale, seed), f"generated (scale {scale:g}, seed {seed})"
    src = data_dir.resolve()
    if not src.is_dir():
        raise DataDirError(
            f"OLIST_DATA_DIR={data_dir} is not a folder; point it at the folder holding "
            "the Olist CSV files (see README: Real data)"
        )
    present = [c for c in CONTRACTS if (src / c.file_name).is_file()]
    if not present:
        raise DataDirError(
            f"{src} holds none of the 9 Olist CSV files (e.g. olist_orders_dataset.csv); "
            "point OLIST_DATA_DIR at the unzipped Kaggle data set"
        )
    if len(present) == len(CONTRACTS):
        return src, f"real files in {src}"
    filler = ensure_generated(settings, scale, seed)
    mixed = settings.local.state_dir / "data" / f"mixed-{abs(hash(str(src))) % 10**8}"
    mixed.mkdir(parents=True, exist_ok=True)
    missing = []
    for c in CONTRACTS:
        target = mixed / c.file_name
        target.unlink(missing_ok=True)
        if (src / c.file_name).is_file():
            target.symlink_to(src / c.file_name)
        else:
            target.symlink_to(filler / c.file_name)
            missing.append(c.table)
    return mixed, f"real files in {src}; generated: {', '.join(missing)}"


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
    return ensure_generated(settings, scale, seed)


def write_marker(
    out: Path, scale: float, seed: int, rows: dict[str, int], *, quirks: bool | list[str]
) -> None:
    (out / MARKER).write_text(
        json.dumps({"scale": scale, "seed": seed, "quirks": quirks, "rows": rows}, indent=2) + "\n",
        encoding="utf-8",
    )
