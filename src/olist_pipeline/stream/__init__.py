"""Streaming: event model, replay producer, exactly-once consumer, DLQ."""
