"""Offline validation of Kubernetes manifests (built-in kinds and our CRDs).

``validate_manifest(doc)`` returns a list of errors (empty = valid):

- built-in kinds are checked against the Kubernetes JSON schema of the version
  pinned in ``k8s/versions.env`` (``KUBERNETES_VERSION``), as shipped by the
  PyPI package ``kubernetes-validate``; strict mode uses its ``-strict``
  variant, where every object rejects unknown fields;
- custom resources (Strimzi, CloudNativePG, prometheus-operator, Spark
  Operator) are checked against the CRD schemas in ``../shared/k8s-schemas``
  (override with ``OLIST_K8S_SCHEMAS``). Those schemas do not close their
  objects, so strict mode adds ``additionalProperties: false`` to every object
  that declares ``properties`` and does not carry
  ``x-kubernetes-preserve-unknown-fields`` (kubeconform's ``-strict``), and
  checks ``metadata`` against the built-in ``ObjectMeta``.

A document whose kind has no schema is an error, never a silent pass.
``validate_object(obj, "io.k8s.api.core.v1.PodSpec")`` checks a fragment
(e.g. a KubernetesPodOperator pod spec) against one built-in definition.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSIONS_FILE = REPO_ROOT / "k8s" / "versions.env"
_DEFS_ID = "/api/_definitions.json"


def spark_pin() -> str:
    """Our Spark's version: the pyspark pin in pyproject.toml, the one place it is written."""
    import tomllib

    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    (req,) = [r for r in deps["dependencies"] if r.startswith("pyspark==")]
    return req.split("==", 1)[1]


def pinned_versions() -> dict[str, str]:
    """``KEY=value`` pairs of ``k8s/versions.env`` (the one pinned-versions file)."""
    out: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def kubernetes_version() -> str:
    """The pinned cluster version as ``major.minor`` (e.g. ``1.35``)."""
    full = pinned_versions()["KUBERNETES_VERSION"].lstrip("v")
    return ".".join(full.split(".")[:2])


def crd_schema_dir() -> Path:
    env = os.environ.get("OLIST_K8S_SCHEMAS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "k8s-schemas"


# ---------------------------------------------------------------- built-in kinds


def _builtin_root(strict: bool) -> Any:
    base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    want = kubernetes_version()
    dirs = sorted(
        (p.name for p in base.iterdir() if re.fullmatch(r"v\d+\.\d+\.\d+-local", p.name)),
        key=lambda n: tuple(int(x) for x in n[1:].split("-")[0].split(".")),
    )
    chosen = [d for d in dirs if ".".join(d[1:].split(".")[:2]) == want]
    if not chosen:
        raise LookupError(
            f"kubernetes-validate ships no schema for Kubernetes {want} "
            f"(has {dirs[0]}..{dirs[-1]}); pin a supported KUBERNETES_VERSION in "
            "k8s/versions.env or upgrade the package"
        )
    return base.joinpath(chosen[-1] + ("-strict" if strict else ""))


@cache
def _builtin_registry(strict: bool) -> Registry[Any]:
    defs = json.loads(_builtin_root(strict).joinpath("_definitions.json").read_text("utf-8"))
    # crawl() indexes the definitions once; unindexed, every $ref lookup rescans them.
    return Registry().with_resource(_DEFS_ID, Resource.from_contents(defs)).crawl()


def _builtin_file(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    prefix = f"{group.split('.')[0]}-" if group else ""
    return f"{kind.lower()}-{prefix}{version}.json"


@cache
def _builtin_validator(api_version: str, kind: str, strict: bool) -> Any | None:
    path = _builtin_root(strict).joinpath(_builtin_file(api_version, kind))
    if not path.is_file():
        return None
    schema = json.loads(path.read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=_builtin_registry(strict))


@cache
def _definition_validator(definition: str, strict: bool) -> Any:
    schema = {"$ref": f"{_DEFS_ID}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=_builtin_registry(strict))


# -------------------------------------------------------------- custom resources


@cache
def _crd_index() -> dict[tuple[str, str], Path]:
    """(group, kind) -> CRD YAML, read with a regex (the files are large)."""
    folder = crd_schema_dir()
    index: dict[tuple[str, str], Path] = {}
    for crd in sorted(folder.glob("*.yaml")):
        text = crd.read_text("utf-8")
        group = re.search(r"^  group:\s*(\S+)", text, re.M)
        kind = re.search(r"^    kind:\s*(\S+)", text, re.M)
        if group and kind:
            index[(group.group(1), kind.group(1))] = crd
    return index


def _close_objects(node: Any) -> None:
    """kubeconform-style strictness: objects with properties reject unknown fields."""
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def _portable(node: Any) -> None:
    """Make openAPIV3 quirks readable by Python's jsonschema.

    - ``nullable: true`` becomes a ``null`` alternative of ``type``;
    - inline RE2 flags (``^(?i)(abort|warn)?$`` in PrometheusRule) move to the
      front, where Python's ``re`` accepts them.
    """
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        pattern = node.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern and not pattern.startswith("(?i)"):
            node["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        for value in node.values():
            _portable(value)
    elif isinstance(node, list):
        for value in node:
            _portable(value)


@cache
def _crd_validator(group: str, version: str, kind: str, strict: bool) -> Any | None:
    if (group, kind) not in _crd_index():
        return None
    label = group.split(".", maxsplit=1)[0]
    path = crd_schema_dir() / "json" / label / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    schema = copy.deepcopy(json.loads(path.read_text("utf-8")))
    _portable(schema)
    if strict:
        # metadata is a bare object in CRD schemas; validate_manifest checks
        # it against the built-in ObjectMeta instead.
        _close_objects(schema)
    return jsonschema.Draft7Validator(schema)


# ----------------------------------------------------------------------- public


def _describe(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    name = meta.get("name", "?") if isinstance(meta, dict) else "?"
    return f"{doc.get('kind', '?')}/{name}"


def _format(where: str, errors: Iterable[Any], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(p) for p in (*prefix, *err.absolute_path)) or "<root>"
        yield f"{where}: {path}: {err.message}"


def validate_manifest(doc: dict[str, Any], strict: bool = True) -> list[str]:  # noqa: PLR0911
    """Errors of one Kubernetes object (empty list = valid)."""
    if not isinstance(doc, dict):
        return [f"not a mapping: {type(doc).__name__}"]
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{_describe(doc)}: apiVersion and kind are required"]
    where = _describe(doc)
    group, _, version = api_version.rpartition("/")

    if (group, kind) in _crd_index():
        validator = _crd_validator(group, version, kind, strict)
        if validator is None:
            return [f"{where}: {api_version} is not a served version of the {kind} CRD"]
        errors = list(_format(where, validator.iter_errors(doc)))
        if strict and "metadata" in doc:
            meta = _definition_validator("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", True)
            errors += _format(where, meta.iter_errors(doc["metadata"]), ("metadata",))
        return errors

    builtin = _builtin_validator(api_version, kind, strict)
    if builtin is None:
        if not crd_schema_dir().is_dir():
            return [
                f"{where}: no built-in schema for {api_version} {kind}, and the CRD schemas "
                f"are missing at {crd_schema_dir()} (set OLIST_K8S_SCHEMAS)"
            ]
        return [f"{where}: no schema for {api_version} {kind} (Kubernetes {kubernetes_version()})"]
    return list(_format(where, builtin.iter_errors(doc)))


def validate_object(obj: Any, definition: str, strict: bool = True) -> list[str]:
    """Errors of a fragment against one built-in definition, e.g. ``io.k8s.api.core.v1.PodSpec``."""
    return list(_format(definition, _definition_validator(definition, strict).iter_errors(obj)))


def validate_all(docs: Iterable[dict[str, Any] | None], strict: bool = True) -> list[str]:
    """Errors of many documents (``None`` from empty YAML documents is skipped)."""
    out: list[str] = []
    for doc in docs:
        if doc is not None:
            out += validate_manifest(doc, strict)
    return out
