"""Observability: the metrics contract and its Prometheus metrics."""
