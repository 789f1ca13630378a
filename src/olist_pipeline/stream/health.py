"""One small HTTP server per stream process: ``/metrics``, ``/healthz``, ``/readyz``.

- ``/metrics``: the Prometheus text format of the default registry.
- ``/healthz`` (liveness): 200 while the poll loop has turned within
  ``liveness_timeout`` seconds (it keeps turning during retries), else 503.
- ``/readyz`` (readiness): 200 when the member has partitions assigned and
  its last database contact succeeded, else 503.
Both answer a small JSON body with the details. Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


@dataclass
class HealthState:
    liveness_timeout: float = 60.0
    heartbeat: float = field(default_factory=time.monotonic)
    assigned: int = 0  # partitions currently assigned
    db_ok: bool = False
    started: float = field(default_factory=time.monotonic)

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def live(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self.heartbeat
        return age < self.liveness_timeout, {"loop_age_seconds": round(age, 3)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok = self.assigned > 0 and self.db_ok
        return ok, {"assigned_partitions": self.assigned, "database_ok": self.db_ok}


class HealthServer:
    def __init__(self, state: HealthState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = generate_latest(REGISTRY)
                    self._send(200, body, CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, detail = outer.state.live() if path == "/healthz" else outer.state.ready()
                    detail["status"] = "ok" if ok else "unavailable"
                    self._send(200 if ok else 503, json.dumps(detail).encode(), "application/json")
                else:
                    self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would flood the JSON log

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.host = host
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="health")

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
