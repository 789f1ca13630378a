"""What every local service is built on: its state, its errors, and the process helpers.

A module of its own below ``stack`` (the registry and the PostgreSQL and Kafka
services) and the monitoring and control-plane services, so that each of them
imports these from here and none imports another's internals.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from olist_pipeline.errors import OlistError


class StackError(OlistError):
    """A local service could not be started or stopped; the message names the fix."""


@dataclass(frozen=True)
class ServiceState:
    name: str
    running: bool
    healthy: bool
    address: str
    pid: int | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        if self.running and self.healthy:
            return "up"
        if self.running:
            return "starting"
        return "down"


class Service(Protocol):
    name: str

    def state(self) -> ServiceState: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def require_free(port: int, service: str, variable: str) -> None:
    if port_in_use(port):
        raise StackError(
            f"port {port} on 127.0.0.1 is already in use by another process, so {service} "
            f"cannot start there. Stop that process, or choose another port with {variable}=<port>."
        )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise StackError(f"{what} did not become healthy within {timeout:.0f}s; see {log_file}")


def pid_alive(pid: int, marker: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    # Guards against a recycled pid that now belongs to something else.
    return marker in cmdline
