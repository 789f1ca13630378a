"""Prometheus metrics, created only from the contract in ``metrics.yaml``.

Asking for a metric the contract does not list is an error, so code cannot
export an undocumented metric. Long-running processes (consumer, producer)
use the default registry served on ``/metrics``; batch steps build a fresh
``CollectorRegistry`` and push it to the Pushgateway when they finish.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from olist_pipeline.errors import OlistError


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str
    labels: tuple[str, ...]
    source: str
    help: str
    buckets: tuple[float, ...] | None = None


class UnknownMetricError(OlistError):
    pass


@cache
def contract() -> dict[str, MetricSpec]:
    text = resources.files("olist_pipeline.metrics").joinpath("metrics.yaml").read_text()
    specs: dict[str, MetricSpec] = {}
    for m in yaml.safe_load(text)["metrics"]:
        buckets = m.get("buckets")
        specs[m["name"]] = MetricSpec(
            name=m["name"],
            type=m["type"],
            labels=tuple(m.get("labels") or ()),
            source=m["source"],
            help=m["help"],
            buckets=tuple(float(b) for b in buckets) if buckets else None,
        )
    return specs


_CLASSES: dict[str, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


def metric(name: str, registry: CollectorRegistry | None = None) -> Any:
    """The metric ``name`` from the contract, registered once per registry."""
    try:
        spec = contract()[name]
    except KeyError:
        raise UnknownMetricError(
            f"metric {name!r} is not in the metrics contract "
            "(src/olist_pipeline/metrics/metrics.yaml); add it there first"
        ) from None
    registry = REGISTRY if registry is None else registry
    existing = _registered(registry).get(name)
    if existing is not None:
        return existing
    kwargs: dict[str, Any] = {"registry": registry}
    if spec.buckets:
        kwargs["buckets"] = spec.buckets
    # prometheus_client appends _total to counters itself.
    base = name.removesuffix("_total") if spec.type == "counter" else name
    created = _CLASSES[spec.type](base, spec.help, spec.labels, **kwargs)
    _registered(registry)[name] = created
    return created


# Keyed by the registry object itself, weakly: keying by id() would hand a new
# registry the metrics of a collected one that happened to share its address.
_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def _registered(registry: CollectorRegistry) -> dict[str, Any]:
    return _BY_REGISTRY.setdefault(registry, {})
