"""Checks for what the local stack needs from the machine, with the fix named."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from olist_pipeline.errors import UsageError


class PrerequisiteError(UsageError):
    """A program the local stack needs is missing; the message says how to get it."""


@dataclass(frozen=True)
class PostgresBinaries:
    bindir: Path
    version: int

    def __getitem__(self, program: str) -> str:
        return str(self.bindir / program)


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteError(
            "Java 17 or newer was not found on PATH. Install it with "
            "`apt-get install openjdk-17-jre-headless` (or run `make setup`)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if match is None or int(match.group(1)) < 17:
        raise PrerequisiteError(
            f"{java} is not Java 17 or newer ({(out.stderr or out.stdout).strip()[:80]}). "
            "Install `openjdk-17-jre-headless` and put it first on PATH."
        )
    return java


def maven_binary() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError(
            "Maven (`mvn`) was not found; it fetches the Kafka broker and JDBC jars "
            "from Maven Central. Install it with `apt-get install maven` (or run `make setup`)."
        )
    return mvn


def postgres_binaries(preferred: Path | None = None) -> PostgresBinaries:
    """The newest PostgreSQL server install (initdb, pg_ctl, postgres); ``preferred``
    (OLIST_PG_BINDIR) first."""
    candidates: list[Path] = []
    if preferred is not None:
        candidates.append(preferred)
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for bindir in candidates:
        if all((bindir / prog).is_file() for prog in ("initdb", "pg_ctl", "postgres")):
            out = subprocess.run(
                [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
            )
            match = re.search(r"(\d+)", out.stdout)
            return PostgresBinaries(bindir=bindir, version=int(match.group(1)) if match else 0)
    raise PrerequisiteError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them "
        "with `apt-get install postgresql` (or run `make setup`), or set OLIST_PG_BINDIR."
    )
