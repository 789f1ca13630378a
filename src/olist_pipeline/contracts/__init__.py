"""Contracts: source-file contracts and (later) event JSON Schemas."""
