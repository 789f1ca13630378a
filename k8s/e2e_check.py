"""End-to-end check of a deployed kind platform (run by .github/workflows/kind-e2e.yml).

1. Airflow's API answers; the DAG is unpaused and triggered; the run must end in `success`.
2. Prometheus scrapes both consumers and their lag (consumer-side gauge and the Kafka
   Exporter's broker view) reaches 0.

Stdlib only, so it runs on a bare CI runner:
    python k8s/e2e_check.py --airflow-password "$PW" [--dag olist_batch] [--timeout 2700]
Exit 0 on success, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def _call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http to the kind port)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def _wait(what: str, deadline: float, probe: Any, interval: float = 10.0) -> Any:
    last: Any = None
    while time.monotonic() < deadline:
        try:
            done, last = probe()
            if done:
                return last
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
        time.sleep(interval)
    raise SystemExit(f"e2e: timed out waiting for {what} (last: {last})")


def run_dag(args: argparse.Namespace, deadline: float) -> None:
    base = args.airflow_url.rstrip("/")

    def token() -> tuple[bool, str]:
        got = _call(
            "POST",
            f"{base}/auth/token",
            {"username": args.airflow_user, "password": args.airflow_password},
        )
        return bool(got.get("access_token")), got.get("access_token", "")

    jwt = _wait("the Airflow API", deadline, token)
    _wait(
        f"DAG {args.dag} to be parsed",
        deadline,
        lambda: (True, _call("GET", f"{base}/api/v2/dags/{args.dag}", token=jwt)),
    )
    _call("PATCH", f"{base}/api/v2/dags/{args.dag}", {"is_paused": False}, token=jwt)
    run = _call("POST", f"{base}/api/v2/dags/{args.dag}/dagRuns", {"logical_date": None}, token=jwt)
    run_id = urllib.parse.quote(run["dag_run_id"], safe="")
    print(f"e2e: triggered {args.dag} run {run['dag_run_id']}")

    def finished() -> tuple[bool, str]:
        state = _call("GET", f"{base}/api/v2/dags/{args.dag}/dagRuns/{run_id}", token=jwt)["state"]
        if state == "failed":
            raise SystemExit(f"e2e: {args.dag} run {run['dag_run_id']} failed")
        return state == "success", state

    _wait(f"{args.dag} to succeed", deadline, finished, interval=20.0)
    print(f"e2e: {args.dag} succeeded")


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    result: list[dict[str, Any]] = _call("GET", url)["data"]["result"]
    return result


def check_lag(args: argparse.Namespace, deadline: float) -> None:
    base = args.prometheus_url.rstrip("/")

    def scraped() -> tuple[bool, int]:
        up = _query(base, 'up{job="olist-consumers"} == 1')
        return len(up) >= 2, len(up)

    _wait("both consumers to be scraped", deadline, scraped)

    def caught_up() -> tuple[bool, str]:
        consumer = _query(base, "sum(olist_consumer_lag_messages)")
        broker = _query(base, 'sum(kafka_consumergroup_lag{topic=~"olist\\\\..*"})')
        values = [float(r["value"][1]) for r in consumer + broker]
        return bool(consumer) and all(v == 0 for v in values), f"lag {values}"

    print(f"e2e: consumer {_wait('consumer lag to reach 0', deadline, caught_up)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--airflow-url", default="http://127.0.0.1:8080")
    p.add_argument("--airflow-user", default="admin")
    p.add_argument("--airflow-password", required=True)
    p.add_argument("--prometheus-url", default="http://127.0.0.1:9090")
    p.add_argument("--dag", default="olist_batch")
    p.add_argument("--timeout", type=float, default=2700.0, help="seconds for the whole check")
    args = p.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    run_dag(args, deadline)
    check_lag(args, deadline)
    print("e2e: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
