"""The simulated node's kubelet log endpoint: what the API server calls for pod logs.

``kubectl logs`` and the operators' log streaming (KubernetesPodOperator and
SparkKubernetesOperator follow the logs of every pod they run) go to the API
server, which forwards ``/containerLogs/<namespace>/<pod>/<container>`` to the
kubelet of the pod's node at its ``status.daemonEndpoints`` port. kwok's own log
server never ends a followed stream (it cannot tell a container has exited), so a
follower would hang until its read timeout; this one answers every request with
one line saying no process ran, then ends the stream, as a kubelet does once the
container has exited. Serves HTTPS on 127.0.0.1 only; run by ``olist stack up
cluster`` as ``python -m olist_pipeline.stack.node_logs``.
"""

from __future__ import annotations

import argparse
import ssl
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LINE = "kwok: simulated container {container} of pod {namespace}/{pod}: no process ran"


def log_body(path: str) -> tuple[int, str]:
    """(HTTP status, body) for a kubelet log request path."""
    url = urlsplit(path)
    parts = url.path.strip("/").split("/")
    if url.path == "/healthz":
        return 200, "ok"
    if len(parts) != 4 or parts[0] != "containerLogs":
        return 404, f"not found: {url.path}\n"
    _, namespace, pod, container = parts
    line = LINE.format(container=container, namespace=namespace, pod=pod)
    if parse_qs(url.query).get("timestamps") == ["true"]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} {line}"
    return 200, line + "\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = log_body(self.path)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would only fill the log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="olist_pipeline.stack.node_logs")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
