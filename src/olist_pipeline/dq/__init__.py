"""Data quality: declarative checks per layer, results, gates, parity."""
