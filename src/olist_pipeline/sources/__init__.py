"""Olist sources: CSV reader, synthetic generator, profile check."""
