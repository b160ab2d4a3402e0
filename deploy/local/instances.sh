#!/usr/bin/env bash
# Several `allot run` instances on this machine, in one consumer group, each with
# its own HTTP port and state folder (its working directory, log and pid file).
#
#   deploy/local/instances.sh start N        # instances 1..N (those running are left alone)
#   deploy/local/instances.sh stop [I]       # all (or instance I): SIGTERM, graceful
#   deploy/local/instances.sh status         # table; exit 0 all healthy, 1 not, 3 none running
#   deploy/local/instances.sh logs I [-f] [LINES]
#
# The binary is never built here: `cargo build --release -p allot-pipeline` first,
# or point ALLOT_BIN at one. Kafka must be running (deploy/local/kafka.sh start).
# See deploy/local/README.md.
set -euo pipefail

export ALLOT_COMPONENT=instances
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALLOT_INSTANCES_DIR="${ALLOT_INSTANCES_DIR:-$ALLOT_LOCAL_HOME/instances}"
ALLOT_INSTANCE_BASE_PORT="${ALLOT_INSTANCE_BASE_PORT:-9464}"
ALLOT_GROUP="${ALLOT_GROUP:-allot}"
KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:${KAFKA_PORT:-9092}}"
ALLOT_LOG="${ALLOT_LOG:-info}"
ALLOT_START_TIMEOUT="${ALLOT_START_TIMEOUT:-30}"
ALLOT_STOP_TIMEOUT="${ALLOT_STOP_TIMEOUT:-60}"

allot_bin() {
  local candidate
  for candidate in "${ALLOT_BIN:-}" \
      "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/release/allot}" \
      "$ALLOT_REPO_ROOT/target/release/allot" \
      "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/debug/allot}" \
      "$ALLOT_REPO_ROOT/target/debug/allot"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  die "no allot binary found" "cargo build --release -p allot-pipeline, or set ALLOT_BIN=<path to allot>"
}

port_of() { printf '%s\n' "$((ALLOT_INSTANCE_BASE_PORT + $1 - 1))"; }
dir_of() { printf '%s\n' "$ALLOT_INSTANCES_DIR/allot-$1"; }
# What identifies instance I's process in /proc (its HTTP address is unique).
pattern_of() { printf 'run --metrics-addr 127.0.0.1:%s' "$(port_of "$1")"; }

# The instance numbers that have a folder, ascending.
known() {
  local d
  for d in "$ALLOT_INSTANCES_DIR"/allot-*; do
    [[ -d "$d" ]] || continue
    d="${d##*/allot-}"
    [[ "$d" =~ ^[0-9]+$ ]] && printf '%s\n' "$d"
  done | sort -n
}

start_one() {
  local i="$1" bin="$2" dir port pid
  dir="$(dir_of "$i")"; port="$(port_of "$i")"
  if pid="$(running_pid "$dir/allot.pid" "$(pattern_of "$i")")"; then
    log "allot-$i already running (pid $pid, http://127.0.0.1:$port)"
    return 0
  fi
  require_port_free "$port" "allot-$i HTTP" ALLOT_INSTANCE_BASE_PORT
  mkdir -p "$dir"
  [[ -f "$dir/allot.log" ]] && mv -f "$dir/allot.log" "$dir/allot.log.prev"
  # The instance's folder is its working directory; its snapshots go to state/ in it.
  (
    cd "$dir"
    ALLOT__RUNTIME__INSTANCE_NAME="allot-$i" \
    ALLOT__RUNTIME__STATE_DIR="$dir/state" \
    ALLOT__KAFKA__CLIENT_ID="allot-$i" \
    ALLOT__KAFKA__GROUP_ID="$ALLOT_GROUP" \
    ALLOT__KAFKA__BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP" \
    ALLOT__RUNTIME__PROGRESS=false \
    RUST_LOG="$ALLOT_LOG" NO_COLOR=1 \
      spawn "$dir/allot.pid" "$dir/allot.log" "$bin" run --metrics-addr "127.0.0.1:$port"
  )
  pid="$(cat "$dir/allot.pid")"
  if ! wait_until "$ALLOT_START_TIMEOUT" "$pid" "$dir/allot.log" "allot-$i (pid $pid)" \
      test "$(http_code "http://127.0.0.1:$port/health")" = 200; then
    stop_service "$dir/allot.pid" "$(pattern_of "$i")" "allot-$i" 10
    die "allot-$i did not start" "read $dir/allot.log; is Kafka up at $KAFKA_BOOTSTRAP?"
  fi
  log "allot-$i: http://127.0.0.1:$port (/ready, /metrics), state and log in $dir"
}

cmd_start() {
  local n="${1:-}" bin i
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || usage_die "start N   (N >= 1 instances)"
  need_cmd curl curl
  bin="$(allot_bin)"
  log "starting $n instance(s) of $bin in group $ALLOT_GROUP on $KAFKA_BOOTSTRAP"
  for i in $(seq 1 "$n"); do start_one "$i" "$bin"; done
}

cmd_stop() {
  local only="${1:-}" i list
  if [[ -n "$only" ]]; then
    [[ "$only" =~ ^[1-9][0-9]*$ ]] || usage_die "stop [I]"
    list="$only"
  else
    # last first, so instance 1 (the one scraped by default) goes last
    list="$(known | sort -rn)"
  fi
  for i in $list; do
    stop_service "$(dir_of "$i")/allot.pid" "$(pattern_of "$i")" "allot-$i" "$ALLOT_STOP_TIMEOUT"
  done
}

# ready_summary BODY: "<phase>, <n> partitions" from a /ready body (or the body as is).
ready_summary() {
  local phase partitions
  phase="$(grep -oE '"phase":"[a-z_]+"' <<<"$1" | cut -d'"' -f4 || true)"
  partitions="$(grep -oE '"partitions":[0-9]+' <<<"$1" | cut -d: -f2 || true)"
  if [[ -n "$phase" ]]; then
    printf '%s, %s partitions\n' "$phase" "${partitions:-?}"
  else
    printf '%s\n' "${1:-no answer}"
  fi
}

cmd_status() {
  local i dir port pid health ready running=0 unhealthy=0
  printf '%-9s %-8s %-22s %-7s %-40s %s\n' instance pid http health ready state_dir
  for i in $(known); do
    dir="$(dir_of "$i")"; port="$(port_of "$i")"
    if pid="$(running_pid "$dir/allot.pid" "$(pattern_of "$i")")"; then
      running=$((running + 1))
      health="$(http_code "http://127.0.0.1:$port/health")"
      ready="$(curl -s -m 3 "http://127.0.0.1:$port/ready" 2>/dev/null || true)"
      [[ "$health" == 200 ]] || unhealthy=$((unhealthy + 1))
    else
      pid=-; health=-; ready=stopped
    fi
    printf '%-9s %-8s %-22s %-7s %-40s %s\n' "allot-$i" "$pid" "127.0.0.1:$port" "$health" \
      "$(ready_summary "$ready")" "$dir"
  done
  if (( running == 0 )); then return "$STATUS_STOPPED"; fi
  if (( unhealthy > 0 )); then return "$STATUS_UNHEALTHY"; fi
  return "$STATUS_OK"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  logs)
    shift
    [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || usage_die "logs I [-f] [LINES]"
    i="$1"; shift
    show_logs "$(dir_of "$i")/allot.log" "$@"
    ;;
  *) usage_die "{start N|stop [I]|status|logs I [-f] [LINES]}" ;;
esac
