"""The simulated node's kubelet log endpoint: paths, timestamps, refusals."""

from __future__ import annotations

from olist_pipeline.stack.node_logs import log_body


def test_a_container_log_is_one_line_naming_the_pod() -> None:
    status, body = log_body("/containerLogs/olist-jobs/olist-dq-raw-x/base?follow=true")
    assert status == 200
    expected = "kwok: simulated container base of pod olist-jobs/olist-dq-raw-x: no process ran"
    assert body == expected + "\n"


def test_timestamps_are_prefixed_when_asked() -> None:
    status, body = log_body("/containerLogs/ns/p/c?follow=true&timestamps=true")
    stamp, text = body.split(" ", 1)
    assert status == 200 and stamp.endswith("Z") and stamp[:2] == "20"
    assert text.startswith("kwok: simulated container c of pod ns/p")


def test_other_paths_are_refused() -> None:
    assert log_body("/exec/ns/p/c")[0] == 404
    assert log_body("/containerLogs/ns/p")[0] == 404
    assert log_body("/healthz") == (200, "ok")
