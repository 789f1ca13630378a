"""`olist stack up cluster`: on demand only, and its one-line errors (no process started)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from olist_pipeline.cli import main
from olist_pipeline.config import Settings, load_settings
from olist_pipeline.stack import cluster
from olist_pipeline.stack.prereqs import PrerequisiteError
from olist_pipeline.stack.stack import LocalStack, StackError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _settings(state: Path, **env: str) -> Settings:
    return load_settings({"OLIST_STATE_DIR": str(state), **env})


def test_cluster_is_on_demand_and_in_start_order(state: Path) -> None:
    settings = _settings(state)
    assert "etcd" not in [s.name for s in LocalStack(settings).services]
    assert [s.name for s in LocalStack(settings, ["cluster"]).services] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "node-logs",
        "kwok",
    ]


def test_missing_binary_names_the_fix(state: Path) -> None:
    with pytest.raises(PrerequisiteError, match=r"make cluster-tools") as err:
        LocalStack(_settings(state), ["cluster"]).up()
    assert "\n" not in str(err.value)
    assert not (state / "cluster" / "etcd.pid").exists()


def test_cli_exits_2_with_one_line(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_STATE_DIR", str(state))
    assert main(["stack", "up", "cluster"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "make cluster-tools" in line]) == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def test_port_in_use_names_the_variable(state: Path, busy_port: int) -> None:
    bindir = state / "bin"
    bindir.mkdir(parents=True)
    # Stand-ins that are never run: the port check comes before any process starts.
    for name in cluster.BINARIES:
        (bindir / name).write_text("#!/bin/sh\nexit 1\n")
        (bindir / name).chmod(0o755)
    settings = _settings(state, OLIST_CLUSTER_ETCD_PORT=str(busy_port))
    with pytest.raises(StackError, match=rf"port {busy_port} .*OLIST_CLUSTER_ETCD_PORT=<port>"):
        LocalStack(settings, ["etcd"]).up()
    assert not (state / "cluster" / "etcd.pid").exists()


def test_ports_are_configurable_and_default_apart_from_the_other_services(state: Path) -> None:
    settings = _settings(state, OLIST_CLUSTER_API_PORT="40001")
    assert settings.cluster.api_port == 40001
    defaults = load_settings({})
    ours = {
        defaults.cluster.api_port,
        defaults.cluster.etcd_port,
        defaults.cluster.etcd_peer_port,
        defaults.cluster.controller_manager_port,
        defaults.cluster.scheduler_port,
    }
    others = {
        defaults.local.pg_port,
        defaults.local.kafka_port,
        defaults.local.kafka_controller_port,
        defaults.local.prometheus_port,
        defaults.local.pushgateway_port,
    }
    assert len(ours) == 5 and not ours & others


def test_build_modules_pin_the_versions_of_versions_env() -> None:
    from tests.k8s_validate import pinned_versions

    v = pinned_versions()
    tools = ROOT / "k8s" / "tools"
    assert f"k8s.io/kubernetes {v['KUBE_TOOLS_VERSION']}" in (tools / "kube" / "go.mod").read_text()
    assert (
        f"go.etcd.io/etcd/server/v3 {v['ETCD_VERSION']}" in (tools / "etcd" / "go.mod").read_text()
    )
    assert f"sigs.k8s.io/kwok {v['KWOK_VERSION']}" in (tools / "kwok" / "go.mod").read_text()
    # The control plane is of the kind target's minor.
    assert v["KUBE_TOOLS_VERSION"].startswith(
        "v" + ".".join(v["KUBERNETES_VERSION"].split(".")[:2]) + "."
    )
    for module in ("kube", "etcd", "kwok"):
        assert (tools / module / "go.sum").stat().st_size > 0


def test_the_spark_operator_simulation_stages_only_spark_applications(state: Path) -> None:
    import yaml

    stages = list(yaml.safe_load_all(cluster.SPARK_STAGES_FILE.read_text("utf-8")))
    refs = {
        (s["spec"]["resourceRef"]["apiGroup"], s["spec"]["resourceRef"]["kind"]) for s in stages
    }
    # Only the CRD's kind: the node and its pods stay the first kwok's.
    assert refs == {("sparkoperator.k8s.io/v1beta2", "SparkApplication")}
    assert {s["metadata"]["name"] for s in stages} == {
        "olist-sparkapp-submitted",
        "olist-sparkapp-running",
        "olist-sparkapp-completed",
        "olist-sparkapp-failed",
    }
    service = cluster.SparkApplicationsService(_settings(state))
    for name in cluster.BINARIES:  # stand-ins: argv only names them
        binary = cluster.tools_dir(service.settings) / name
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    argv = service.argv()
    assert argv[0].endswith("/kwok")
    assert "--manage-single-node=olist-no-node" in argv
    assert not any(a.startswith("--manage-nodes-with") for a in argv)


def test_control_plane_processes_keep_their_pid_files_logs_and_ports(state: Path) -> None:
    settings = _settings(state)
    c = settings.cluster
    ports = {
        "etcd": [
            (c.etcd_port, "OLIST_CLUSTER_ETCD_PORT"),
            (c.etcd_peer_port, "OLIST_CLUSTER_ETCD_PEER_PORT"),
        ],
        "kube-apiserver": [(c.api_port, "OLIST_CLUSTER_API_PORT")],
        "kube-controller-manager": [
            (c.controller_manager_port, "OLIST_CLUSTER_CONTROLLER_MANAGER_PORT")
        ],
        "kube-scheduler": [(c.scheduler_port, "OLIST_CLUSTER_SCHEDULER_PORT")],
        "node-logs": [(c.kubelet_port, "OLIST_CLUSTER_KUBELET_PORT")],
        "kwok": [],
    }
    services = [f(settings) for f in cluster.CLUSTER_SERVICES.values()]
    services.append(cluster.SparkApplicationsService(settings))
    for service in services:
        assert service.pidfile == state / "cluster" / f"{service.name}.pid"
        assert service.log_file == settings.local.logs_dir / f"cluster-{service.name}.log"
        assert service.ports() == ports.get(service.name, [])
        # A pid counts as ours only while it runs our binary (node-logs: our module).
        program = "kwok" if service.name == "kwok-sparkapps" else service.name
        assert service.markers() == (
            ("olist_pipeline.stack.node_logs",)
            if service.name == "node-logs"
            else (str(cluster.tools_dir(settings) / program),)
        )
    assert services[1].address == f"127.0.0.1:{c.api_port}"
