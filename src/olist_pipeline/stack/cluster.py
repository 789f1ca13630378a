"""A real Kubernetes control plane on 127.0.0.1, with one simulated node.

``olist stack up cluster`` starts etcd, kube-apiserver (RBAC on),
kube-controller-manager, kube-scheduler and kwok, which plays the kubelet of
one node: it writes the status a kubelet would but runs no container. The
binaries come from ``make cluster-tools`` (``.local/bin``). Certificates,
kubeconfigs, etcd's data, pid files and logs live under ``.local/``; the
admin kubeconfig (client certificate in ``system:masters``) is
``.local/cluster/kubeconfig``, context ``olist-local``.

What it proves: the API server's schema, admission, RBAC and field
validation, the scheduler's placement against requests, the controllers
(Deployments, Jobs, ...). What it cannot: anything a container does, image
pulls, or NetworkPolicy enforcement (there is no CNI).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from olist_pipeline.config import Settings
from olist_pipeline.stack.prereqs import PrerequisiteError
from olist_pipeline.stack.service import (
    Daemon,
    ServiceState,
    StackError,
    port_in_use,
    wait_for,
)

CONTEXT = "olist-local"
NODE_NAME = "olist-node"
# kwok manages only nodes carrying this annotation, so it never touches a real node.
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
# The API server refuses a loopback address as the `kubernetes` Service's endpoint;
# an address of TEST-NET-1 (RFC 5737) is never routed, and nothing connects to it.
ADVERTISE_ADDRESS = "192.0.2.2"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
SPARK_STAGES_FILE = Path(__file__).with_name("kwok-sparkapps.yaml")
SPARK_APPLICATION_CRD = "sparkapplications.sparkoperator.k8s.io"


def tools_dir(settings: Settings) -> Path:
    return settings.local.state_dir / "bin"


def cluster_dir(settings: Settings) -> Path:
    return settings.local.state_dir / "cluster"


def kubeconfig_path(settings: Settings) -> Path:
    return cluster_dir(settings) / "kubeconfig"


def binary(settings: Settings, name: str) -> Path:
    path = tools_dir(settings) / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise PrerequisiteError(
            f"{path} is missing: the local cluster needs {', '.join(BINARIES)} in "
            f"{tools_dir(settings)}; build them with `make cluster-tools` (part of make setup)."
        )
    return path


def require_binaries(settings: Settings) -> None:
    for name in BINARIES:
        binary(settings, name)


# ------------------------------------------------------------------------ PKI
@dataclass(frozen=True)
class _Identity:
    file: str  # base name of the .crt/.key and of the kubeconfig
    common_name: str
    organization: str | None = None


# The controllers get the identities RBAC's bootstrap policy grants rights to;
# kwok and the admin are cluster admins (system:masters).
ADMIN = _Identity("admin", "olist-admin", "system:masters")
CONTROLLER_MANAGER = _Identity("controller-manager", "system:kube-controller-manager")
SCHEDULER = _Identity("scheduler", "system:kube-scheduler")
KWOK = _Identity("kwok", "olist-kwok", "system:masters")


class _Pki:
    """A CA and the certificates the control plane needs, made once with openssl."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def _openssl(self, *args: str, stdin: str | None = None) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise PrerequisiteError(
                "openssl was not found on PATH; the local cluster's certificates are made "
                "with it. Install it with `apt-get install openssl`."
            )
        out = subprocess.run(
            [openssl, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise StackError(f"openssl {args[0]} failed: {out.stderr.strip()[-300:]}")

    def ensure(self) -> None:
        """Make what is missing; a state kept from an older version gains only the new files."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        if not self.path("ca.crt").exists():
            self._openssl("genrsa", "-out", str(self.path("ca.key")), "2048")
            self._openssl(
                "req", "-x509", "-new", "-key", str(self.path("ca.key")),
                "-subj", "/CN=olist-local-ca", "-days", "3650", "-out", str(self.path("ca.crt")),
            )  # fmt: skip
        if not self.path("sa.pub").exists():
            self._openssl("genrsa", "-out", str(self.path("sa.key")), "2048")
            self._openssl(
                "rsa", "-in", str(self.path("sa.key")), "-pubout", "-out", str(self.path("sa.pub"))
            )
        sans = ",".join(
            [
                "IP:127.0.0.1",
                f"IP:{KUBERNETES_SERVICE_IP}",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ]
        )
        self._sign("apiserver", "/CN=kube-apiserver", server_sans=sans)
        # The simulated node's kubelet endpoint, which the API server calls for pod logs.
        self._sign("node-logs", f"/CN={NODE_NAME}", server_sans=f"IP:127.0.0.1,DNS:{NODE_NAME}")
        for ident in (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK):
            subject = f"/CN={ident.common_name}"
            if ident.organization:
                subject = f"/O={ident.organization}{subject}"
            self._sign(ident.file, subject)

    def _sign(self, name: str, subject: str, server_sans: str | None = None) -> None:
        key, csr, crt = (self.path(f"{name}.{ext}") for ext in ("key", "csr", "crt"))
        if crt.exists():
            return
        self._openssl("genrsa", "-out", str(key), "2048")
        self._openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        ext = self.path(f"{name}.ext")
        usage = "serverAuth" if server_sans else "clientAuth"
        ext.write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\n"
            + (f"subjectAltName={server_sans}\n" if server_sans else "")
        )
        self._openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.path("ca.crt")),
            "-CAkey", str(self.path("ca.key")), "-CAcreateserial", "-days", "3650",
            "-extfile", str(ext), "-out", str(crt),
        )  # fmt: skip
        csr.unlink()
        ext.unlink()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(pki: _Pki, ident: _Identity, server: str, target: Path) -> None:
    """A kubeconfig with the certificates embedded, so it can be copied anywhere."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki.path("ca.crt")),
                },
            }
        ],
        "users": [
            {
                "name": ident.common_name,
                "user": {
                    "client-certificate-data": _b64(pki.path(f"{ident.file}.crt")),
                    "client-key-data": _b64(pki.path(f"{ident.file}.key")),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": ident.common_name}}],
        "current-context": CONTEXT,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    tmp.chmod(0o600)
    tmp.replace(target)


# ------------------------------------------------------------------ processes
def _https_ok(url: str, pki: _Pki | None, *, client: _Identity | None = None) -> bool:
    ctx = ssl.create_default_context()
    if pki is not None and pki.path("ca.crt").exists():
        ctx.load_verify_locations(str(pki.path("ca.crt")))
    else:  # a component's self-signed serving certificate: only "is it up" is asked
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client is not None and pki is not None:
        ctx.load_cert_chain(
            str(pki.path(f"{client.file}.crt")), str(pki.path(f"{client.file}.key"))
        )
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class _Process(Daemon):
    """One control-plane binary of ``.local/bin``, run as a ``Daemon`` under ``.local/cluster``.

    Its certificates are made before it starts; ``start`` on one already running
    waits until it is healthy and redoes ``after_start`` (kubeconfigs, the node).
    """

    log_prefix = "cluster-"
    ready_timeout = 60.0

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        super().__init__(settings, port, cluster_dir(settings))
        self.cfg = settings.cluster
        self.pki = _Pki(self.root / "pki")

    def markers(self) -> tuple[str, ...]:
        return (str(tools_dir(self.settings) / (self.binary or self.name)),)

    def detail(self) -> str:
        return str(self.log_file)

    def check_prerequisites(self) -> None:
        require_binaries(self.settings)

    def reuse(self) -> None:
        require_binaries(self.settings)
        wait_for(self.healthy, self.ready_timeout, self.name, self.log_file)
        self.after_start()

    def prepare(self) -> None:
        self.pki.ensure()
        self.write_config()

    def write_config(self) -> None:
        """Files the process needs before it starts, once the certificates exist."""

    def bin(self, name: str | None = None) -> str:
        return str(binary(self.settings, name or self.binary or self.name))

    def kubeconfig(self, ident: _Identity) -> Path:
        return self.root / f"{ident.file}.kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.cfg.api_port}"


class EtcdService(_Process):
    name = "etcd"
    port_variable = "OLIST_CLUSTER_ETCD_PORT"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.cluster.etcd_port)

    def ports(self) -> list[tuple[int, str]]:
        return [*super().ports(), (self.cfg.etcd_peer_port, "OLIST_CLUSTER_ETCD_PEER_PORT")]

    def argv(self) -> list[str]:
        client = f"http://127.0.0.1:{self.cfg.etcd_port}"
        peer = f"http://127.0.0.1:{self.cfg.etcd_peer_port}"
        return [
            self.bin(),
            "--name=olist",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=olist={peer}",
            # A throw-away development store: durability across power loss is not needed.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def healthy(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.cfg.etcd_port}/health")


class ApiServerService(_Process):
    name = "kube-apiserver"
    port_variable = "OLIST_CLUSTER_API_PORT"
    ready_timeout = 90.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.cluster.api_port)

    def argv(self) -> list[str]:
        p = self.pki.path
        return [
            self.bin(),
            f"--etcd-servers=http://127.0.0.1:{self.cfg.etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.cfg.api_port}",
            f"--advertise-address={ADVERTISE_ADDRESS}",
            f"--tls-cert-file={p('apiserver.crt')}",
            f"--tls-private-key-file={p('apiserver.key')}",
            f"--client-ca-file={p('ca.crt')}",
            f"--service-account-key-file={p('sa.pub')}",
            f"--service-account-signing-key-file={p('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # The node's name resolves nowhere: reach its kubelet endpoint by address.
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            "--v=0",
        ]

    def healthy(self) -> bool:
        return _https_ok(f"{self.api_url}/readyz", self.pki, client=ADMIN)

    def after_start(self) -> None:
        for ident in (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK):
            write_kubeconfig(self.pki, ident, self.api_url, self.kubeconfig(ident))
        write_kubeconfig(self.pki, ADMIN, self.api_url, kubeconfig_path(self.settings))


def _component_flags(service: _Process, ident: _Identity, port: int) -> list[str]:
    """The controller-manager's and the scheduler's shared flags: their binary, their own
    identity's kubeconfig for every API call, HTTPS on loopback, one instance."""
    kc = service.kubeconfig(ident)
    return [
        service.bin(),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
    ]


class ControllerManagerService(_Process):
    name = "kube-controller-manager"
    port_variable = "OLIST_CLUSTER_CONTROLLER_MANAGER_PORT"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.cluster.controller_manager_port)

    def argv(self) -> list[str]:
        return [
            *_component_flags(self, CONTROLLER_MANAGER, self.cfg.controller_manager_port),
            # Each controller acts as its own service account, as on a real cluster,
            # so RBAC's bootstrap roles are what lets it work.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki.path('sa.key')}",
            f"--root-ca-file={self.pki.path('ca.crt')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ]

    def healthy(self) -> bool:
        return _https_ok(f"https://127.0.0.1:{self.cfg.controller_manager_port}/healthz", None)


class SchedulerService(_Process):
    name = "kube-scheduler"
    port_variable = "OLIST_CLUSTER_SCHEDULER_PORT"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.cluster.scheduler_port)

    def argv(self) -> list[str]:
        return [
            *_component_flags(self, SCHEDULER, self.cfg.scheduler_port),
            "--profiling=false",
        ]

    def healthy(self) -> bool:
        return _https_ok(f"https://127.0.0.1:{self.cfg.scheduler_port}/healthz", None)


class NodeLogsService(_Process):
    """The simulated node's kubelet log endpoint (``olist_pipeline.stack.node_logs``)."""

    name = "node-logs"
    port_variable = "OLIST_CLUSTER_KUBELET_PORT"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.cluster.kubelet_port)

    def markers(self) -> tuple[str, ...]:
        return ("olist_pipeline.stack.node_logs",)

    def argv(self) -> list[str]:
        p = self.pki.path
        return [
            sys.executable, "-m", "olist_pipeline.stack.node_logs",
            f"--port={self.cfg.kubelet_port}",
            f"--cert={p('node-logs.crt')}", f"--key={p('node-logs.key')}",
        ]  # fmt: skip

    def healthy(self) -> bool:
        return _https_ok(f"https://127.0.0.1:{self.cfg.kubelet_port}/healthz", None)


class KwokService(_Process):
    """kwok plus the one node it simulates; healthy once that node is Ready.

    The node's address and kubelet port (``status.daemonEndpoints``) are those of
    ``node-logs`` on 127.0.0.1, so the API server serves pod logs as from a kubelet.
    """

    name = "kwok"

    @property
    def address(self) -> str:
        return f"node/{NODE_NAME}"

    @property
    def stages(self) -> Path:
        return self.root / "kwok-stages.yaml"

    def write_config(self) -> None:
        # The stages name the kubelet port as a placeholder: it is a setting.
        text = STAGES_FILE.read_text("utf-8").replace(
            "OLIST_KUBELET_PORT", str(self.cfg.kubelet_port)
        )
        self.stages.write_text(text, "utf-8")

    def argv(self) -> list[str]:
        key, value = NODE_ANNOTATION
        return [
            self.bin(),
            f"--kubeconfig={self.kubeconfig(KWOK)}",
            f"--config={self.stages}",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            "--node-lease-duration-seconds=40",
            "--node-ip=127.0.0.1",
        ]

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin("kubectl"), f"--kubeconfig={kubeconfig_path(self.settings)}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def after_start(self) -> None:
        key, value = NODE_ANNOTATION
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {key: value},
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
        }
        out = self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=olist-stack",
            "-f",
            "-",
            stdin=json.dumps(node),
        )
        if out.returncode != 0:
            raise StackError(f"creating node {NODE_NAME} failed: {out.stderr.strip()[-300:]}")
        wait_for(self.node_ready, 60, f"node {NODE_NAME}", self.log_file)

    def node_ready(self) -> bool:
        """Ready, and its kubelet endpoint is this kwok's server (a node kept in etcd from
        an earlier start gains the port with kwok's next heartbeat, within 20 s)."""
        out = self.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
            " {.status.daemonEndpoints.kubeletEndpoint.Port}",
        )
        return out.returncode == 0 and out.stdout.split() == ["True", str(self.cfg.kubelet_port)]

    def healthy(self) -> bool:
        # The kwok process has no endpoint of its own; it is up while it runs.
        return True

    def stop(self) -> None:
        # The Spark Operator's simulation, if it was started, goes with the node's kwok,
        # so `olist stack down cluster` leaves no process behind.
        if type(self) is KwokService:
            SparkApplicationsService(self.settings).stop()
        super().stop()

    def state(self) -> ServiceState:
        running = self.running()
        ready = running and port_in_use(self.cfg.api_port) and self.node_ready()
        return ServiceState(
            self.name,
            running=running,
            healthy=ready,
            address=self.address,
            pid=self._pid() if running else None,
            detail="Ready" if ready else "",
        )


class SparkApplicationsService(KwokService):
    """A second kwok that plays the Kubeflow Spark Operator (``kwok-sparkapps.yaml``).

    The operator's controller cannot be built here, so this kwok creates each
    SparkApplication's driver pod and moves its status SUBMITTED -> RUNNING ->
    COMPLETED (or FAILED): a simulation, named as such wherever it is used.
    It is not part of ``olist stack up cluster``: kwok exits when a stage names a
    kind the API server does not serve, so it starts only once the Spark
    Operator's CRDs are installed (``start_spark_applications``). It manages no
    node (``--manage-single-node`` names none), so the first kwok keeps the
    node and its pods; ``KwokService.stop`` (``olist stack down cluster``) stops
    this one too.
    """

    name = "kwok-sparkapps"
    binary = "kwok"

    @property
    def address(self) -> str:
        return "sparkapplications"

    @property
    def stages(self) -> Path:
        return self.root / "kwok-sparkapps.yaml"

    def write_config(self) -> None:
        out = self.kubectl("get", "crd", SPARK_APPLICATION_CRD, "-o", "name")
        if out.returncode != 0:
            raise StackError(
                f"the CRD {SPARK_APPLICATION_CRD} is not installed, and kwok exits on a stage "
                "for an unknown kind: install the Spark Operator's CRDs first (the cluster "
                "tier applies them from ../shared/k8s-schemas)"
            )
        self.stages.write_text(SPARK_STAGES_FILE.read_text("utf-8"), "utf-8")

    def argv(self) -> list[str]:
        return [
            self.bin(),
            f"--kubeconfig={self.kubeconfig(KWOK)}",
            f"--config={self.stages}",
            # A node that never exists: this kwok leaves nodes and pods to the first one.
            "--manage-single-node=olist-no-node",
        ]

    def after_start(self) -> None:
        """Nothing to wait for: kwok has no endpoint, and it is up while it runs."""

    def stop(self) -> None:
        _Process.stop(self)

    def state(self) -> ServiceState:
        return _Process.state(self)


def start_spark_applications(settings: Settings) -> ServiceState:
    """Start the Spark Operator's simulation (idempotent); the CRDs must be installed."""
    service = SparkApplicationsService(settings)
    service.start()
    return service.state()


# Start order; `down` stops them in reverse.
CLUSTER_SERVICES: dict[str, Callable[[Settings], _Process]] = {
    "etcd": EtcdService,
    "kube-apiserver": ApiServerService,
    "kube-controller-manager": ControllerManagerService,
    "kube-scheduler": SchedulerService,
    "node-logs": NodeLogsService,
    "kwok": KwokService,
}
