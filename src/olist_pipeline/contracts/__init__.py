"""Contracts: source-file contracts, event JSON Schemas, and the tables of each built layer."""
