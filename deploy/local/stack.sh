#!/usr/bin/env bash
# The whole local stack: Kafka + ClickHouse + Prometheus, plus the test peers
# (kcat, and a Python venv with confluent-kafka and fastavro).
#
#   deploy/local/stack.sh {install|start|stop|restart|status|env}
#
#   install  every dependency the tests need (idempotent; fetches only what is missing)
#   start    install when missing, start all three, wait until each is ready
#   stop     stop all three (no-op for those not running)
#   status   a table; exit 0 when all run and answer, 3 when all are stopped, 1 otherwise
#   env      `export` lines with endpoints, for: eval "$(deploy/local/stack.sh env)"
#
# See deploy/local/README.md.
set -euo pipefail

export ALLOT_COMPONENT=stack
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(kafka clickhouse prometheus)
# the interpreter that builds the venv (ALLOT_PYTHON, as tests use it, is the
# venv's own python; see `env`)
ALLOT_BASE_PYTHON="${ALLOT_BASE_PYTHON:-python3}"
VENV_DIR="${ALLOT_VENV:-$ALLOT_LOCAL_HOME/venv}"
REQUIREMENTS="$ALLOT_DEPLOY_DIR/requirements.txt"

svc() { "$ALLOT_DEPLOY_DIR/$1.sh" "${@:2}"; }

venv_stamp() { sha256sum "$REQUIREMENTS" | cut -d' ' -f1; }

venv_ready() {
  [[ -x "$VENV_DIR/bin/python" && -f "$VENV_DIR/.requirements.sha256" ]] \
    && [[ "$(cat "$VENV_DIR/.requirements.sha256")" == "$(venv_stamp)" ]] \
    && "$VENV_DIR/bin/python" -c 'import confluent_kafka, fastavro' 2>/dev/null
}

install_venv() {
  venv_ready && return 0
  local start=$SECONDS
  command -v "$ALLOT_BASE_PYTHON" >/dev/null 2>&1 \
    || die "$ALLOT_BASE_PYTHON not found" "apt-get install -y python3 python3-venv, or set ALLOT_BASE_PYTHON=/path/to/python3.11"
  log "creating venv $VENV_DIR ($("$ALLOT_BASE_PYTHON" --version 2>&1)) with $(grep -vE '^\s*(#|$)' "$REQUIREMENTS" | tr '\n' ' ')"
  rm -rf "$VENV_DIR"
  mkdir -p "$(dirname "$VENV_DIR")"
  if ! "$ALLOT_BASE_PYTHON" -m venv "$VENV_DIR" >/dev/null 2>&1; then
    # Debian's system python ships venv/ensurepip separately
    rm -rf "$VENV_DIR"
    local ver
    ver="$("$ALLOT_BASE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt_install "python$ver-venv"
    "$ALLOT_BASE_PYTHON" -m venv "$VENV_DIR" \
      || die "cannot create a venv with $ALLOT_BASE_PYTHON" "apt-get install -y python3-venv (or python$ver-venv)"
  fi
  "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2 \
    || die "pip install -r $REQUIREMENTS failed" "check access to PyPI (pip config list), then re-run '$0 install'"
  venv_stamp >"$VENV_DIR/.requirements.sha256"
  log "venv ready in $((SECONDS - start))s: $("$VENV_DIR/bin/python" -c 'import importlib.metadata as m, confluent_kafka as c; print("confluent-kafka", m.version("confluent-kafka"), "(librdkafka", c.libversion()[0] + "), fastavro", m.version("fastavro"))')"
}

do_install() {
  local start=$SECONDS s
  for s in "${SERVICES[@]}"; do svc "$s" install; done
  need_cmd kcat kcat
  with_lock venv install_venv
  log "all dependencies installed ($((SECONDS - start))s)"
}

do_start() {
  local s failed=()
  for s in "${SERVICES[@]}"; do
    svc "$s" start || failed+=("$s")
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    do_status || true
    die "failed to start: ${failed[*]}" "see the errors above; '$0 stop' to clean up, then '$0 start' again"
  fi
  do_status
}

do_stop() {
  local s rc=0
  for s in "${SERVICES[@]}"; do svc "$s" stop || rc=1; done
  return "$rc"
}

do_status() {
  local s rc all_stopped=1 any_bad=0 line
  printf '%-11s %-10s %-8s %s\n' SERVICE STATE PID ENDPOINT
  for s in "${SERVICES[@]}"; do
    rc=0
    svc "$s" status || rc=$?
    [[ $rc -eq "$STATUS_STOPPED" ]] || all_stopped=0
    [[ $rc -eq "$STATUS_OK" ]] || any_bad=1
  done
  if command -v kcat >/dev/null 2>&1; then
    line="$(kcat -V 2>/dev/null | grep -oE 'Version [^ ]+|librdkafka [^ ]+' | tr '\n' ' ' || true)"
    line="${line% }"
    printf '%-11s %-10s %-8s %s\n' kcat installed - "$(command -v kcat) (${line:-?})"
  else
    printf '%-11s %-10s %-8s %s\n' kcat missing - "run '$0 install'"
  fi
  if venv_ready; then
    printf '%-11s %-10s %-8s %s\n' venv installed - "$VENV_DIR/bin/python"
  else
    printf '%-11s %-10s %-8s %s\n' venv missing - "run '$0 install'"
  fi
  if [[ $all_stopped -eq 1 ]]; then return "$STATUS_STOPPED"; fi
  if [[ $any_bad -eq 1 ]]; then return "$STATUS_UNHEALTHY"; fi
  return "$STATUS_OK"
}

do_env() {
  # names as deploy/local/test-all.sh exports them for the tests
  cat <<EOF
export KAFKA_BOOTSTRAP=127.0.0.1:${KAFKA_PORT:-9092}
export CLICKHOUSE_URL=http://127.0.0.1:${CLICKHOUSE_HTTP_PORT:-8123}
export CLICKHOUSE_TCP=127.0.0.1:${CLICKHOUSE_TCP_PORT:-9000}
export PROMETHEUS_URL=http://127.0.0.1:${PROMETHEUS_PORT:-9090}
export PROMETHEUS_TARGETS_DIR=${PROMETHEUS_DIR:-$ALLOT_LOCAL_HOME/prometheus}/targets
export ALLOT_PYTHON=$VENV_DIR/bin/python
EOF
}

cmd="${1:-}"
case "$cmd" in
  install) do_install ;;
  start)   do_start ;;
  stop)    do_stop ;;
  restart) do_stop; do_start ;;
  status)  do_status ;;
  env)     do_env ;;
  *) usage_die "{install|start|stop|restart|status|env}" ;;
esac
