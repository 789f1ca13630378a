"""Live sales: the Structured Streaming job from the event topics into marts."""
