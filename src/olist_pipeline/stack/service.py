"""What every local service is built on: its state, its errors, and the process helpers.

A module of its own below ``stack`` (the registry and the PostgreSQL and Kafka
services) and the monitoring and control-plane services, so that each of them
imports these from here and none imports another's internals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from olist_pipeline.config import Settings
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


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port`` now."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def ephemeral_floor(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The lowest port the kernel hands to outgoing connections (32768 on Linux
    unless changed), or 65536 where it cannot be read.

    A listening port inside that range can be taken at any moment by some
    process's outgoing connection, between a check that found it free and the
    service's bind, or while the service is down for a restart; so the stack's
    ports stay below it.
    """
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 65536


def free_port_block(
    ports: Mapping[str, int],
    in_use: Callable[[int], bool] = port_in_use,
    step: int = 100,
    ceiling: int | None = None,
) -> dict[str, int]:
    """``ports`` as they are when all are free, else the whole block shifted by the
    smallest multiple of ``step`` at which every one is free, staying below
    ``ceiling`` (default: the kernel's ephemeral range).

    Shifting all together keeps the layout one can read (PostgreSQL still ends in 432),
    and a second checkout beside a running stack, or a CI run on a machine where
    something holds a default port, gets a stack of its own.
    """
    top = max(ports.values(), default=0)
    limit = max(ephemeral_floor() if ceiling is None else ceiling, top + 1)
    for shift in range(0, limit - top, step):
        moved = {name: port + shift for name, port in ports.items()}
        if not any(in_use(port) for port in moved.values()):
            return moved
    raise StackError(
        f"no block of {len(ports)} free ports on 127.0.0.1 between the configured ones "
        f"and {limit}; stop the processes holding them, or set each OLIST_*_PORT yourself."
    )


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


class Daemon:
    """A long-running process of ours: pid file, log file, a health probe, SIGTERM to stop.

    Subclasses name the process (``binary``, a string its command line
    contains), build its ``argv`` and say when it is ``healthy``. A process
    listens on ``port`` (``port_variable`` moves it), or on every port of
    ``ports()``, or on none (``port=None``); ``start`` refuses a port in use
    and ``stop`` returns once each is free again, so a quick restart rebinds it.
    """

    name = ""
    binary = ""
    port_variable = ""
    ready_timeout = 30.0
    # Logs of a group of services share a prefix in the logs folder (``cluster-``).
    log_prefix = ""

    def __init__(self, settings: Settings, port: int | None, root: Path) -> None:
        self.settings = settings
        self.port = port
        self.root = root
        self.pidfile = root / f"{self.name}.pid"
        self.log_file = settings.local.logs_dir / f"{self.log_prefix}{self.name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}" if self.port is not None else "-"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def ports(self) -> list[tuple[int, str]]:
        """Every port the process listens on, with the variable that moves it."""
        return [] if self.port is None else [(self.port, self.port_variable)]

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def healthy(self) -> bool:
        raise NotImplementedError

    def check_prerequisites(self) -> None:
        """Raise an error naming the fix when something the process needs is missing."""

    def prepare(self) -> None:
        """Write configs and folders before the process starts."""

    def after_start(self) -> None:
        """Work once a process this call started is healthy."""

    def reuse(self) -> None:
        """``start`` found the process running: by default it is taken as it is."""

    def detail(self) -> str:
        return str(self.root)

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def markers(self) -> tuple[str, ...]:
        """Strings the pid's command line must hold to be ours (guards recycled pids):
        by default our binary and our port."""
        return (self.binary, str(self.port))

    def _alive(self, pid: int) -> bool:
        return all(pid_alive(pid, marker) for marker in self.markers())

    def running(self) -> bool:
        pid = self._pid()
        return pid is not None and self._alive(pid)

    def state(self) -> ServiceState:
        running = self.running()
        return ServiceState(
            self.name,
            running=running,
            healthy=running and self.healthy(),
            address=self.address,
            pid=self._pid() if running else None,
            detail=self.detail(),
        )

    def start(self) -> None:
        if self.running():
            self.reuse()
            return
        self.check_prerequisites()
        for port, variable in self.ports():
            require_free(port, self.name, variable)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                self.argv(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))

        def ready() -> bool:
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise StackError(
                    f"{self.name} exited during start-up (code {proc.returncode}); "
                    f"see {self.log_file}"
                )
            return self.healthy()

        wait_for(ready, self.ready_timeout, self.name, self.log_file)
        self.after_start()

    def stop(self) -> None:
        pid = self._pid()
        if pid is None or not self._alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self._alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if self._alive(pid):
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            wait_for(lambda: not self._alive(pid), 10, self.name, self.log_file)
        self.pidfile.unlink(missing_ok=True)
        for port, _ in self.ports():
            wait_for(_released(port), 10, f"{self.name} port release", self.log_file)


def _released(port: int) -> Callable[[], bool]:
    return lambda: not port_in_use(port)
