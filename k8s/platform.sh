#!/usr/bin/env bash
# The kind target's front door, called by the Makefile:
#   install-helm  build the pinned Helm CLI with `go install` (skipped when present)
#   install-cluster-tools  build the local control plane's binaries (skipped when present)
#   deploy        cluster, images, operators, data stores, Airflow, our chart (idempotent;
#                 OLIST_VALUES=<file> adds a values file for charts/olist-platform)
#   undeploy      delete the kind cluster
#   status        pinned versions, and what runs if the cluster exists
#   urls          where the UIs are and where their logins live
# Steps that need only a cluster, shared by `deploy` and the cluster test tier
# (tests/cluster runs them against `olist stack up cluster`):
#   apply-namespaces | apply-resources | install-app [TAG] | uninstall-app
# Every version comes from k8s/versions.env. Every kubectl/helm call names the
# context explicitly (OLIST_KUBE_CONTEXT, default the kind cluster's; KUBECONFIG
# and KUBECTL are honoured), so a user's current context is never touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=k8s/versions.env
source k8s/versions.env
# The JVM jars' pins live in the local stack's pom (written once, there): the image's
# JDBC driver is the one the local target runs.
JVM_POM=src/olist_pipeline/stack/pom.xml
pom_pin() { sed -n "s:.*<$1\.version>\([^<]*\)</$1\.version>.*:\1:p" "$JVM_POM"; }
POSTGRES_JDBC_VERSION="$(pom_pin postgresql.jdbc)"
[ -n "$POSTGRES_JDBC_VERSION" ] || { echo "error: no postgresql.jdbc.version in $JVM_POM" >&2; exit 2; }
# Spark's version is the pyspark pin in pyproject.toml, written nowhere else.
SPARK_VERSION="$(sed -n 's/^ *"pyspark==\([^"]*\)",.*/\1/p' pyproject.toml)"
[ -n "$SPARK_VERSION" ] || { echo "error: no pyspark==<version> pin in pyproject.toml" >&2; exit 2; }

HELM="${HELM:-$ROOT/.local/bin/helm}"
CLUSTER="${KIND_CLUSTER_NAME}"
CONTEXT="${OLIST_KUBE_CONTEXT:-kind-${CLUSTER}}"
KUBECTL="${KUBECTL:-kubectl}"
RELEASE=olist
APP_NS=olist
PIPELINE_IMAGE=olist/pipeline
AIRFLOW_IMAGE=olist/airflow
# Host ports bound on 127.0.0.1 by kind-config.yaml (NodePorts inside the cluster).
AIRFLOW_URL=http://127.0.0.1:8080
GRAFANA_URL=http://127.0.0.1:3000
PROMETHEUS_URL=http://127.0.0.1:9090

log() { printf '\033[36m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

k() { "$KUBECTL" --context "$CONTEXT" "$@"; }
h() { "$HELM" --kube-context "$CONTEXT" "$@"; }

# ------------------------------------------------------------------ helm CLI
install_helm() {
  if [ -x "$HELM" ] && [ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
    echo "helm $HELM_VERSION: present ($HELM)"
    return
  fi
  local go=go
  # The official Go tarball's location, in case a non-login shell lacks it on PATH.
  command -v go >/dev/null || go=/usr/local/go/bin/go
  command -v "$go" >/dev/null || die "Go is needed to build helm $HELM_VERSION (go install); install Go >= 1.24 and re-run make helm"
  log "building helm $HELM_VERSION with go install (a few minutes on a cold Go cache)"
  local start=$SECONDS
  mkdir -p "$(dirname "$HELM")"
  # The version is stamped the way Helm's own release build does it.
  GOBIN="$(dirname "$HELM")" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    "$go" install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  # go install names the binary after its package.
  if [ "$(basename "$HELM")" != helm ]; then mv -f "$(dirname "$HELM")/helm" "$HELM"; fi
  echo "helm $("$HELM" version --template '{{.Version}}') built in $((SECONDS - start))s: $HELM"
}

# ------------------------------------------------------- cluster test tools
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok for
# `olist stack up cluster`, built from the build modules under k8s/tools (their go.sum
# pins every dependency). Each binary is rebuilt only when it does not report its pin.
TOOLS_DIR="${TOOLS_DIR:-$ROOT/.local/bin}"

find_go() {
  local go=go
  command -v go >/dev/null || go=/usr/local/go/bin/go
  command -v "$go" >/dev/null || die "Go is needed to build $1 (go build); install Go >= 1.25 (https://go.dev/doc/install) and re-run make $2"
  echo "$go"
}

tool_version() {
  local bin="$TOOLS_DIR/$1"
  [ -x "$bin" ] || return 0
  case "$1" in
    kubectl) "$bin" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -1 ;;
    etcd) "$bin" --version 2>/dev/null | sed -n 's/^etcd Version: */v/p' ;;
    kwok) "$bin" --version 2>/dev/null | sed -n 's/.*version \(v[^ ]*\).*/\1/p' | head -1 ;;
    *) "$bin" --version 2>/dev/null | sed -n 's/^Kubernetes //p' ;;
  esac
}

install_cluster_tools() {
  local go kube_stale=() name start=$SECONDS
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ "$(tool_version "$name")" = "$KUBE_TOOLS_VERSION" ] || kube_stale+=("$name")
  done
  local etcd_ok=1 kwok_ok=1
  [ "$(tool_version etcd)" = "$ETCD_VERSION" ] || etcd_ok=0
  [ "$(tool_version kwok)" = "$KWOK_VERSION" ] || kwok_ok=0
  if [ ${#kube_stale[@]} -eq 0 ] && [ $etcd_ok = 1 ] && [ $kwok_ok = 1 ]; then
    echo "cluster tools: kubernetes $KUBE_TOOLS_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION present ($TOOLS_DIR)"
    return
  fi
  go="$(find_go "the cluster test tools" cluster-tools)"
  mkdir -p "$TOOLS_DIR"
  export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly"
  if [ ${#kube_stale[@]} -gt 0 ]; then
    log "building ${kube_stale[*]} $KUBE_TOOLS_VERSION (about 6 minutes on a cold Go cache)"
    local minor="${KUBE_TOOLS_VERSION#v1.}"; minor="${minor%%.*}"
    # The version is stamped as Kubernetes' own release build does it.
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_TOOLS_VERSION"
    ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_TOOLS_VERSION"
    ld="$ld -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    # One go build for all of them: packages compile in parallel and once.
    local pkgs=() out
    for name in ${kube_stale[@]+"${kube_stale[@]}"}; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
    out="$(mktemp -d)"
    (cd k8s/tools/kube && "$go" build -ldflags "$ld" -o "$out/" "${pkgs[@]}")
    for name in ${kube_stale[@]+"${kube_stale[@]}"}; do mv -f "$out/$name" "$TOOLS_DIR/$name"; done
    rmdir "$out"
  fi
  if [ $etcd_ok = 0 ]; then
    log "building etcd $ETCD_VERSION"
    (cd k8s/tools/etcd && "$go" build -ldflags "-s -w" -o "$TOOLS_DIR/etcd" go.etcd.io/etcd/server/v3)
  fi
  if [ $kwok_ok = 0 ]; then
    log "building kwok $KWOK_VERSION"
    (cd k8s/tools/kwok && "$go" build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
      -o "$TOOLS_DIR/kwok" sigs.k8s.io/kwok/cmd/kwok)
  fi
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
    local want="$KUBE_TOOLS_VERSION"
    [ "$name" = etcd ] && want="$ETCD_VERSION"
    [ "$name" = kwok ] && want="$KWOK_VERSION"
    [ "$(tool_version "$name")" = "$want" ] || die "$TOOLS_DIR/$name reports '$(tool_version "$name")', not $want; delete it and re-run make cluster-tools"
  done
  echo "cluster tools built in $((SECONDS - start))s: $TOOLS_DIR"
}

# ---------------------------------------------------------------- prerequisites
require_tools() {
  local missing=()
  command -v docker >/dev/null || missing+=("docker (https://docs.docker.com/engine/install/)")
  command -v kind >/dev/null || missing+=("kind ${KIND_VERSION} (go install sigs.k8s.io/kind@${KIND_VERSION})")
  command -v "$KUBECTL" >/dev/null || missing+=("kubectl (https://kubernetes.io/docs/tasks/tools/)")
  [ -x "$HELM" ] || command -v helm >/dev/null || missing+=("helm ${HELM_VERSION} (make helm builds it; or any helm 3 on PATH)")
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'error: make deploy needs these tools on PATH:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
  resolve_helm
  docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed); start Docker and re-run make deploy"
}

# The pinned helm of `make helm` if built, else a helm on PATH (never built implicitly).
resolve_helm() {
  if [ -x "$HELM" ]; then return; fi
  command -v helm >/dev/null || die "helm is not installed: run make helm (builds helm $HELM_VERSION with Go) or put a helm 3 on PATH"
  HELM="$(command -v helm)"
}

cluster_exists() { command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; }

# Immutable image tag: the commit, plus a digest of uncommitted changes to what
# goes into the images (so a dirty tree never reuses a clean commit's tag).
image_tag() {
  local sha dirty
  sha="$(git rev-parse --short=12 HEAD)"
  dirty="$(git status --porcelain -- src images airflow spark-apps stream-consumers pyproject.toml)"
  if [ -n "$dirty" ]; then
    sha="${sha}-dirty-$( (git diff HEAD -- src images airflow spark-apps stream-consumers pyproject.toml; \
      git ls-files --others --exclude-standard -- src images airflow spark-apps stream-consumers | xargs -r cat) \
      | sha256sum | cut -c1-8)"
  fi
  echo "$sha"
}

package_version() { sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1; }

build_and_load() {
  local tag="$1" version
  version="$(package_version)"
  for spec in "pipeline:$PIPELINE_IMAGE" "airflow:$AIRFLOW_IMAGE"; do
    local name="${spec%%:*}" repo="${spec#*:}"
    if docker image inspect "$repo:$tag" >/dev/null 2>&1; then
      echo "image $repo:$tag: already built"
    else
      log "building $repo:$tag"
      docker build -f "images/$name.Dockerfile" -t "$repo:$tag" \
        --build-arg PYTHON_BASE_IMAGE="$PYTHON_BASE_IMAGE" \
        --build-arg AIRFLOW_BASE_IMAGE="$AIRFLOW_BASE_IMAGE" \
        --build-arg PIPELINE_IMAGE="$PIPELINE_IMAGE:$tag" \
        --build-arg POSTGRES_JDBC_VERSION="$POSTGRES_JDBC_VERSION" \
        --build-arg SPARK_VERSION="$SPARK_VERSION" .
    fi
    # The DAGs and SparkApplication templates pin <repo>:<package version>; that alias
    # moves with each load, the git-sha tag never does.
    docker tag "$repo:$tag" "$repo:$version"
    log "loading $repo:$tag into kind"
    kind load docker-image "$repo:$tag" "$repo:$version" --name "$CLUSTER"
  done
}

# Create a Secret only when it does not exist yet: generated once, stable after.
ensure_secret() {
  local ns="$1" name="$2"; shift 2
  if k -n "$ns" get secret "$name" >/dev/null 2>&1; then return; fi
  k -n "$ns" create secret generic "$name" "$@" >/dev/null
  echo "secret $ns/$name: generated"
}

random() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

secret_value() { k -n "$1" get secret "$2" -o "jsonpath={.data.$3}" | base64 -d; }

helm_repos() {
  h repo add cnpg "$CNPG_CHART_REPO" --force-update >/dev/null
  h repo add apache-airflow "$AIRFLOW_CHART_REPO" --force-update >/dev/null
  h repo add spark-operator "$SPARK_OPERATOR_CHART_REPO" --force-update >/dev/null
  h repo add prometheus-community "$KUBE_PROMETHEUS_STACK_CHART_REPO" --force-update >/dev/null
  h repo update >/dev/null
}

# --------------------------------------------------------------------- deploy
deploy() {
  require_tools
  if cluster_exists; then
    echo "kind cluster $CLUSTER: exists"
  else
    log "creating kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
    kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --config kind-config.yaml --wait 180s
  fi
  local tag
  tag="$(image_tag)"
  build_and_load "$tag"

  apply_namespaces
  helm_repos

  log "kube-prometheus-stack $KUBE_PROMETHEUS_STACK_CHART_VERSION (Prometheus, Alertmanager, Grafana, monitoring CRDs)"
  ensure_secret monitoring grafana-admin --from-literal=admin-user=admin --from-literal=admin-password="$(random)"
  h upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    --version "$KUBE_PROMETHEUS_STACK_CHART_VERSION" -n monitoring \
    -f k8s/values/kube-prometheus-stack.yaml --wait --timeout 15m
  h upgrade --install prometheus-pushgateway prometheus-community/prometheus-pushgateway \
    --version "$PUSHGATEWAY_CHART_VERSION" -n monitoring \
    -f k8s/values/pushgateway.yaml --wait --timeout 5m

  log "Strimzi $STRIMZI_CHART_VERSION and CloudNativePG $CNPG_CHART_VERSION operators"
  h upgrade --install strimzi "$STRIMZI_CHART_REPO" --version "$STRIMZI_CHART_VERSION" \
    -n strimzi-system -f k8s/values/strimzi.yaml --wait --timeout 10m
  h upgrade --install cnpg cnpg/cloudnative-pg --version "$CNPG_CHART_VERSION" \
    -n cnpg-system -f k8s/values/cnpg.yaml --wait --timeout 10m

  apply_resources
  k -n olist wait cluster.postgresql.cnpg.io/olist-pg --for=condition=Ready --timeout=15m
  k -n airflow wait cluster.postgresql.cnpg.io/airflow-pg --for=condition=Ready --timeout=15m
  k -n kafka wait kafka.kafka.strimzi.io/olist --for=condition=Ready --timeout=15m

  log "Spark Operator $SPARK_OPERATOR_CHART_VERSION"
  h upgrade --install spark-operator spark-operator/spark-operator --version "$SPARK_OPERATOR_CHART_VERSION" \
    -n spark-operator -f k8s/values/spark-operator.yaml --wait --timeout 10m

  install_app "$tag"
  restart_grafana_once

  log "Airflow $AIRFLOW_VERSION (chart $AIRFLOW_CHART_VERSION, KubernetesExecutor)"
  ensure_secret airflow airflow-metadata --from-literal=connection="$(secret_value airflow airflow-pg-app uri)"
  ensure_secret airflow airflow-jwt --from-literal=jwt-secret="$(random)"
  ensure_secret airflow airflow-api-secret-key --from-literal=api-secret-key="$(random)"
  ensure_secret airflow airflow-fernet-key --from-literal=fernet-key="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')"
  ensure_secret airflow airflow-admin --from-literal=username=admin --from-literal=password="$(random)"
  # The tag and the admin password go in a private temporary values file (a --set on
  # a list would replace the values file's whole list).
  local overrides
  overrides="$(mktemp)"
  trap 'rm -f "$overrides"' RETURN
  chmod 600 "$overrides"
  printf 'images:\n  airflow:\n    tag: "%s"\ncreateUserJob:\n  defaultUser:\n    password: "%s"\n' \
    "$tag" "$(secret_value airflow airflow-admin password)" >"$overrides"
  # The chart's migration and create-user Jobs are plain Jobs (no hooks, see the values
  # file) with fixed names; a Job's pod template is immutable, so a re-deploy with a new
  # image would be refused: finished ones are removed first (both are idempotent).
  k -n airflow delete job airflow-run-airflow-migrations airflow-create-user \
    --ignore-not-found --wait=true >/dev/null
  h upgrade --install airflow apache-airflow/airflow --version "$AIRFLOW_CHART_VERSION" -n airflow \
    -f k8s/values/airflow.yaml -f "$overrides" --wait --wait-for-jobs --timeout 20m
  # --wait does not cover a plain Job on every helm version: the admin login exists
  # only once create-user has completed.
  k -n airflow wait job/airflow-create-user --for=condition=Complete --timeout=10m

  log "deployed"
  urls
}

# ------------------------------------------------ steps that need only a cluster
apply_namespaces() {
  log "namespaces"
  k apply --server-side -f k8s/namespaces.yaml >/dev/null
}

# The Kafka, PostgreSQL and monitoring resources (their CRDs come with the operators).
apply_resources() {
  log "Kafka (KRaft) and PostgreSQL clusters, PodMonitors"
  k apply --server-side --validate=strict -f k8s/kafka/ -f k8s/postgres/ -f k8s/monitoring/ >/dev/null
}

# Our chart; the migration hook Job must complete, then the consumers roll out.
install_app() {
  local tag="${1:?usage: install-app TAG}"
  resolve_helm
  log "olist-platform (image $PIPELINE_IMAGE:$tag)"
  # No --wait: the migration is a post-install/upgrade hook and the consumers become
  # ready only once it has run; the rollout is awaited below instead.
  local extra=()
  # OLIST_VALUES: an extra values file for our chart (the CI run turns the producer on).
  if [ -n "${OLIST_VALUES:-}" ]; then extra=(-f "$OLIST_VALUES"); fi
  # ${a[@]+"${a[@]}"}: bash 3.2 (macOS) treats an empty array as unset under set -u.
  h upgrade --install "$RELEASE" charts/olist-platform -n "$APP_NS" \
    ${extra[@]+"${extra[@]}"} --set-string image.tag="$tag" --timeout 15m
  k -n "$APP_NS" rollout status deploy -l app.kubernetes.io/instance="$RELEASE",app.kubernetes.io/component=consumer --timeout=10m
}

uninstall_app() {
  resolve_helm
  if h status "$RELEASE" -n "$APP_NS" >/dev/null 2>&1; then
    h uninstall "$RELEASE" -n "$APP_NS" --wait --timeout 5m
  else
    echo "release $RELEASE: not installed"
  fi
}

# Grafana reads the warehouse's read-only login at start; the first deploy creates
# that Secret after Grafana started, so restart it once (never on later deploys).
restart_grafana_once() {
  local secret_at pod_at
  secret_at="$(k -n monitoring get secret "$RELEASE-db-reader" -o jsonpath='{.metadata.creationTimestamp}' 2>/dev/null || true)"
  pod_at="$(k -n monitoring get pod -l app.kubernetes.io/name=grafana -o jsonpath='{.items[0].metadata.creationTimestamp}' 2>/dev/null || true)"
  if [ -n "$secret_at" ] && [ -n "$pod_at" ] && [[ "$pod_at" < "$secret_at" ]]; then
    log "restarting Grafana to pick up the warehouse datasource login"
    k -n monitoring rollout restart deploy/kube-prometheus-stack-grafana
    k -n monitoring rollout status deploy/kube-prometheus-stack-grafana --timeout=5m
  fi
}

undeploy() {
  command -v kind >/dev/null || die "kind is not on PATH; nothing to undeploy"
  if cluster_exists; then
    kind delete cluster --name "$CLUSTER"
  else
    echo "kind cluster $CLUSTER: not present"
  fi
}

status() {
  echo "pinned versions (k8s/versions.env):"
  grep -E '^[A-Z0-9_]+=' k8s/versions.env | sed 's/^/  /'
  echo "  POSTGRES_JDBC_VERSION=$POSTGRES_JDBC_VERSION (from $JVM_POM)"
  if [ -x "$HELM" ]; then echo "helm CLI: $("$HELM" version --template '{{.Version}}') ($HELM)"; else echo "helm CLI: not built (make helm)"; fi
  if ! cluster_exists; then
    echo "kind cluster $CLUSTER: not running (make deploy)"
    return
  fi
  echo "kind cluster $CLUSTER: running"
  [ -x "$HELM" ] || HELM="$(command -v helm || true)"
  if [ -n "$HELM" ]; then h list -A; fi
  k get pods -A -l 'app.kubernetes.io/part-of in (olist-platform)' 2>/dev/null || true
  k get kafka,kafkatopics -n kafka 2>/dev/null || true
  k get clusters.postgresql.cnpg.io -A 2>/dev/null || true
}

urls() {
  cat <<EOF
Airflow UI   $AIRFLOW_URL   login: kubectl --context $CONTEXT -n airflow get secret airflow-admin -o jsonpath='{.data.password}' | base64 -d   (user admin)
Grafana      $GRAFANA_URL   login: kubectl --context $CONTEXT -n monitoring get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d   (user admin)
Prometheus   $PROMETHEUS_URL
Warehouse    kubectl --context $CONTEXT -n $APP_NS port-forward svc/olist-pg-rw 5432   logins: Secrets $RELEASE-db-<role> in namespace $APP_NS
EOF
}

case "${1:-}" in
  install-helm) install_helm ;;
  install-cluster-tools) install_cluster_tools ;;
  apply-namespaces) apply_namespaces ;;
  apply-resources) apply_resources ;;
  install-app) install_app "${2:-}" ;;
  uninstall-app) uninstall_app ;;
  deploy) deploy ;;
  undeploy) undeploy ;;
  status) status ;;
  urls) urls ;;
  *) echo "usage: $0 install-helm|install-cluster-tools|deploy|undeploy|status|urls|apply-namespaces|apply-resources|install-app TAG|uninstall-app" >&2; exit 2 ;;
esac
