"""Every push to the Pushgateway, and the one read back from it.

Short-lived processes (a DQ gate, a parity run, an Airflow callback, ``olist
metrics publish``) cannot be scraped, so they push what they measured. Each
push replaces its group (HTTP PUT), which makes pushing twice harmless; a
counter that must stay monotonic across processes is read back and pushed
incremented (``current_value``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, push_to_gateway

from olist_pipeline.config import Settings
from olist_pipeline.logs import get_logger

log = get_logger(__name__)

TIMEOUT_S = 10.0


def push(
    url: str,
    job: str,
    registry: CollectorRegistry,
    grouping: Mapping[str, str] | None = None,
    *,
    timeout: float = TIMEOUT_S,
) -> None:
    """Replace the group ``job``/``grouping`` on the Pushgateway at ``url``; raises OSError."""
    push_to_gateway(
        url, job=job, registry=registry, grouping_key=dict(grouping or {}), timeout=timeout
    )


def push_if_configured(
    settings: Settings, registry: CollectorRegistry, job: str, grouping: Mapping[str, str]
) -> bool:
    """A step's own push at its end: only with OLIST_PUSHGATEWAY_URL, and a failed push is
    logged, not fatal (the step's results are in the audit tables either way, and
    ``olist metrics publish`` can push them again from there)."""
    if not settings.pushgateway_url:
        return False
    try:
        push(settings.pushgateway_url, job, registry, grouping)
    except OSError as exc:
        log.warning("pushgateway_unreachable", url=settings.pushgateway_url, error=str(exc))
        return False
    return True


def current_value(url: str, name: str, labels: Mapping[str, str]) -> float:
    """The value the Pushgateway holds for ``name{labels}`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=5) as resp:  # noqa: S310
        text = resp.read().decode("utf-8")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
