"""Every Python version in one place: exact pins in pyproject.toml, the resolved set in
requirements.lock (made from those pins by `make lock`), and the two agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return [
        *project["dependencies"],
        *(d for ds in project["optional-dependencies"].values() for d in ds),
    ]


def _locked() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text("utf-8").splitlines():
        m = PIN.match(line.strip())
        if m:
            found[_norm(m.group(1))] = m.group(3)
    return found


def test_every_direct_dependency_is_pinned_exactly() -> None:
    loose = [d for d in _declared() if not PIN.match(d)]
    assert not loose, f"pin these with == in pyproject.toml, then `make lock`: {loose}"


def test_the_lock_holds_each_pin_at_its_version() -> None:
    locked = _locked()
    assert len(locked) > len(_declared()), "requirements.lock holds no resolved set"
    stale = []
    for dep in _declared():
        m = PIN.match(dep)
        assert m, dep
        name, version = _norm(m.group(1)), m.group(3)
        if locked.get(name) != version:
            stale.append(f"{name}: pyproject {version}, lock {locked.get(name)}")
    assert not stale, f"requirements.lock is stale (run `make lock`): {stale}"


def test_setup_and_the_images_install_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert "pip install -q -r requirements.lock" in makefile
    assert "--no-deps -e ." in makefile
    for image in ("pipeline", "airflow"):
        text = (ROOT / "images" / f"{image}.Dockerfile").read_text("utf-8")
        assert "requirements.lock" in text and re.search(r"-c \S*requirements\.lock", text), image


def test_the_jdbc_driver_version_is_written_once() -> None:
    # The local stack's pom pins it; the image build takes it from there (k8s/platform.sh).
    pom = (ROOT / "src" / "olist_pipeline" / "stack" / "pom.xml").read_text("utf-8")
    (version,) = re.findall(r"<postgresql\.jdbc\.version>([^<]+)<", pom)
    written = [
        str(p.relative_to(ROOT))
        for p in (
            ROOT / "k8s" / "versions.env",
            ROOT / "k8s" / "platform.sh",
            ROOT / "images" / "pipeline.Dockerfile",
            ROOT / "src" / "olist_pipeline" / "stack" / "connect-pom.xml",
            ROOT / "src" / "olist_pipeline" / "stack" / "jars.py",
            ROOT / "pyproject.toml",
        )
        if version in p.read_text("utf-8")
    ]
    assert not written, f"the JDBC driver version {version} is written again in {written}"
    platform = (ROOT / "k8s" / "platform.sh").read_text("utf-8")
    assert 'POSTGRES_JDBC_VERSION="$(pom_pin postgresql.jdbc)"' in platform
    assert '--build-arg POSTGRES_JDBC_VERSION="$POSTGRES_JDBC_VERSION"' in platform
