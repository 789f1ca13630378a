from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from olist_pipeline.logs import configure_logging, get_logger, log_context


def test_json_records_carry_bound_context() -> None:
    # Context bound by earlier in-process CLI calls of other tests must not count here.
    structlog.contextvars.clear_contextvars()
    buf = io.StringIO()
    configure_logging("INFO", "json", stream=buf)
    with log_context(run_id="r1", batch_id="b7"):
        get_logger("t").info("loaded", rows=3)
    get_logger("t").info("after")
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["event"] == "loaded" and first["run_id"] == "r1" and first["batch_id"] == "b7"
    assert first["rows"] == 3 and first["level"] == "info" and "timestamp" in first
    assert "run_id" not in second


def test_terminal_records_follow_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stderr seen at configure time is closed later (pytest's capture of
    # an earlier test does that): records must go to the stderr of the moment.
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO", "json")
    first.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    get_logger("t").warning("after_swap")
    assert json.loads(now.getvalue())["event"] == "after_swap"
