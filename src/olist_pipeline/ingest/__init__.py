"""Batch ingestion: CSV files -> raw tables (COPY), manifest, quarantine."""
