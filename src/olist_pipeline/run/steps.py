"""Timed, visible steps for the main job.

Each step shows a live line on the terminal (rich), its wall time is kept
for the summary, and a failure ends the run with the step's name in the
message. The terminal stays quiet otherwise: details go to the log file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from olist_pipeline.logs import get_logger

log = get_logger(__name__)


@dataclass
class StepResult:
    name: str
    seconds: float
    status: str  # "ok", "failed", "skipped"
    detail: str = ""


@dataclass
class StepTracker:
    console: Console
    results: list[StepResult] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[StepHandle]:
        """Run a block as a named step; the handle reports progress."""
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn() if total else TextColumn(""),
            MofNCompleteColumn() if total else TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        handle = StepHandle(
            progress,
            progress.add_task(name, total=total, note=""),
            console=self.console,
            name=name,
        )
        t0 = time.monotonic()
        log.info("step_started", step=name)
        try:
            # A live display only where someone watches; piped output stays plain.
            with progress if self.console.is_terminal else nullcontext():
                yield handle
        except BaseException as exc:
            seconds = time.monotonic() - t0
            self.results.append(StepResult(name, seconds, "failed", str(exc)))
            self.console.print(f"[red]x[/red] {name} [dim]({seconds:.1f}s)[/dim]")
            log.warning("step_failed", step=name, seconds=round(seconds, 2), error=str(exc))
            raise
        seconds = time.monotonic() - t0
        self.results.append(StepResult(name, seconds, "ok", handle.detail))
        extra = f" - {handle.detail}" if handle.detail else ""
        self.console.print(f"[green]v[/green] {name}{extra} [dim]({seconds:.1f}s)[/dim]")
        log.info("step_finished", step=name, seconds=round(seconds, 2), detail=handle.detail)

    def skipped(self, name: str, why: str) -> None:
        self.results.append(StepResult(name, 0.0, "skipped", why))
        self.console.print(f"[yellow]-[/yellow] {name}: {why}")


@dataclass
class StepHandle:
    progress: Progress
    task: TaskID
    detail: str = ""
    console: Console | None = None
    name: str = ""
    _last_status: object = None

    def status(self, text: str, key: object = None) -> None:
        """What the step is doing now: the live line in a terminal; piped, a plain
        line each time ``key`` (default: the text) changes."""
        if self.console is not None and self.console.is_terminal:
            self.progress.update(self.task, note=text)
            return
        key = text if key is None else key
        if key != self._last_status and self.console is not None:
            self._last_status = key
            self.console.print(f"  {self.name}: {text}", highlight=False)

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)

    def update(self, **kw: Any) -> None:
        completed = kw.pop("completed", None)
        total = kw.pop("total", None)
        note = kw.pop("note", None)
        fields: dict[str, Any] = {}
        if note is not None:
            fields["note"] = note
        self.progress.update(self.task, completed=completed, total=total, **fields)
