"""Structured JSON logs with run / batch / event context.

``configure_logging`` is called once by each entry point (CLI, Spark app,
consumer). Context such as ``run_id`` or ``batch_id`` is bound with
``bind_context`` and travels with every record logged in the same thread or
task, so a log line can always be traced back to the run that wrote it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record is emitted.

    A handler holding the stream it was configured with outlives that stream
    when the stream is swapped and closed (pytest's captures, a redirected
    stderr): later records then fail with "I/O operation on closed file".
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr


def configure_logging(
    level: str = "INFO",
    fmt: str = "json",
    log_file: Path | None = None,
    stream: Any = None,
    terminal_level: str = "WARNING",
) -> None:
    """Route stdlib and structlog records through one JSON (or console) renderer.

    With ``log_file`` set, JSON records go to the file and the terminal shows
    only records at ``terminal_level`` or above.
    """
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handlers: list[logging.Handler] = []
    terminal = logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    terminal.setFormatter(formatter)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_SHARED_PROCESSORS,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
        handlers.append(to_file)
        terminal.setLevel(terminal_level)
    handlers.append(terminal)

    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    # Third-party chatter stays out of the pipeline's own log unless asked for.
    for noisy in ("py4j", "kafka", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def bind_context(**values: Any) -> None:
    """Attach key/values (run_id, batch_id, step, ...) to every later record."""
    structlog.contextvars.bind_contextvars(**values)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind values for the duration of a block, then restore what was there."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
