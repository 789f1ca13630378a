# olist-pipeline: the front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OLIST := $(BIN)/olist
STAMP := $(VENV)/.installed
# Debian packages the local target needs (server binaries, JVM, Maven).
APT_PACKAGES := openjdk-17-jre-headless maven postgresql prometheus prometheus-pushgateway prometheus-postgres-exporter chromium chromium-driver
PYTEST_ARGS ?=
# Kubernetes target: every pinned version in one file (also read by the chart tests),
# and the Helm CLI built from source by `make helm` (no prebuilt download).
include k8s/versions.env
TOOLS_BIN := $(CURDIR)/.local/bin
HELM := $(TOOLS_BIN)/helm
PLATFORM := bash k8s/platform.sh

.PHONY: help setup system-deps venv jars run test test-unit test-integration lint fmt typecheck \
        bench stack-up stack-down stack-status status clean helm deploy undeploy urls \
        cluster-tools cluster-up cluster-down \
        monitor monitor-down ci lock

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

setup: system-deps $(STAMP) jars helm cluster-tools ## install everything: Debian packages (as root), the venv, the Kafka/JDBC jars, helm, the local cluster's binaries

system-deps: ## install the Debian packages the local stack needs (needs root; skipped if present)
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "system packages: all present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  systemctl disable --now prometheus prometheus-pushgateway prometheus-postgres-exporter postgresql >/dev/null 2>&1 || true; \
	else echo "missing Debian packages:$$missing -- run: sudo apt-get install$$missing"; exit 2; fi

# The venv holds exactly the locked set: every package at its requirements.lock
# version, then the project itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## create the Python virtualenv with the locked dependencies (requirements.lock)

# Same command as the lock's header; the platform is the one of the images and CI.
lock: $(STAMP) ## re-resolve requirements.lock from the pins in pyproject.toml (after changing a pin)
	$(BIN)/uv pip compile pyproject.toml --extra airflow --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu -o requirements.lock -q

jars: $(STAMP) ## fetch the Kafka broker and PostgreSQL JDBC jars from Maven Central
	$(OLIST) stack fetch

run: $(STAMP) ## run the main job on the local target (KEEP=1 leaves the stack running, LIVE=1 adds the live sales job)
	KEEP=$(KEEP) LIVE=$(LIVE) $(OLIST) run

test: $(STAMP) ## run every test tier (starts the real local stack if it is not up)
	$(BIN)/pytest tests $(PYTEST_ARGS)

test-unit: $(STAMP) ## unit tests only (no processes started)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## integration tests against the real local stack
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

ci: ## run exactly what CI runs (.ci/run: setup, every test tier with nothing started, lint)
	bash .ci/run

lint: $(STAMP) ## ruff check + format check + mypy + dead code (vulture) + import circles and private cross-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_import_graph.py

fmt: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy

bench: $(STAMP) ## run the benchmarks; each prints its figure next to a baseline from the same run
	$(BIN)/python -m tests.bench $(BENCH)

.PHONY: airflow airflow-stop
AIRFLOW_PORT ?= 18080
airflow: $(STAMP) ## Airflow UI on http://127.0.0.1:$(AIRFLOW_PORT) with the DAGs (admin/admin; Ctrl-C stops)
	$(OLIST) --log-format console airflow ui --port $(AIRFLOW_PORT)

airflow-stop: $(STAMP) ## stop the Airflow UI started by `make airflow`
	$(OLIST) airflow stop

stack-up: $(STAMP) ## start PostgreSQL and Kafka on 127.0.0.1 (idempotent)
	$(OLIST) stack up

stack-down: $(STAMP) ## stop the local services
	$(OLIST) stack down

stack-status: $(STAMP) ## show each local service's state and address
	$(OLIST) stack status

monitor: $(STAMP) ## start Prometheus (project rules), Pushgateway, PostgreSQL exporter on 127.0.0.1
	$(OLIST) stack up monitor
	@echo "Prometheus http://127.0.0.1:$${OLIST_PROMETHEUS_PORT:-19090}/alerts  Pushgateway http://127.0.0.1:$${OLIST_PUSHGATEWAY_PORT:-19091}"

monitor-down: $(STAMP) ## stop the monitoring services (Prometheus, Pushgateway, exporter)
	$(OLIST) stack down monitor

status: $(STAMP) ## print the pinned versions, the local stack's state and what runs on the kind cluster
	@$(OLIST) stack versions
	@$(OLIST) stack status
	@HELM=$(HELM) $(PLATFORM) status

helm: ## build the pinned Helm CLI into .local/bin with `go install` (skipped when present)
	@HELM=$(HELM) $(PLATFORM) install-helm

cluster-tools: ## build kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok into .local/bin (skipped when present)
	@$(PLATFORM) install-cluster-tools

cluster-up: $(STAMP) ## start the local control plane and its simulated node (.local/cluster/kubeconfig)
	$(OLIST) stack up cluster

cluster-down: $(STAMP) ## stop the local control plane
	$(OLIST) stack down cluster

deploy: ## bring the whole platform up on a local kind cluster (idempotent; uses the helm `make helm` built, else a helm on PATH; never builds one)
	@HELM=$(HELM) $(PLATFORM) deploy

undeploy: ## delete the kind cluster and everything on it
	@HELM=$(HELM) $(PLATFORM) undeploy

urls: ## print the URLs of the Airflow UI, Grafana and Prometheus and where their logins are
	@HELM=$(HELM) $(PLATFORM) urls

clean: ## stop the stack and delete .local/ (data, logs, jars)
	-$(OLIST) stack down
	rm -rf .local
