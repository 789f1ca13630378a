"""Local target: the real services on 127.0.0.1 and their control."""
