"""olist-pipeline: hybrid batch + streaming data platform for the Olist data set."""

__version__ = "0.1.0"
