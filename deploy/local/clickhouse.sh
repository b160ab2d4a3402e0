#!/usr/bin/env bash
# Local ClickHouse server (Debian clickhouse-server 18.16) for runs and tests,
# without Docker, with all config/data/logs in one folder of our own.
#
#   deploy/local/clickhouse.sh {install|start|stop|status|restart|logs [-f] [N]|reset}
#
# See deploy/local/README.md.
set -euo pipefail

export ALLOT_COMPONENT=clickhouse
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
# empty = interserver HTTP (replication endpoint) disabled
CLICKHOUSE_INTERSERVER_PORT="${CLICKHOUSE_INTERSERVER_PORT:-}"
CLICKHOUSE_TIMEZONE="${CLICKHOUSE_TIMEZONE:-UTC}"
CLICKHOUSE_DIR="${CLICKHOUSE_DIR:-$ALLOT_LOCAL_HOME/clickhouse}"
CLICKHOUSE_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
CLICKHOUSE_STOP_TIMEOUT="${CLICKHOUSE_STOP_TIMEOUT:-30}"

TEMPLATES="$ALLOT_DEPLOY_DIR/clickhouse"
CONF_DIR="$CLICKHOUSE_DIR/config"
LOG_DIR="$CLICKHOUSE_DIR/logs"
PID_FILE="$CLICKHOUSE_DIR/clickhouse.pid"
SERVER_LOG="$LOG_DIR/clickhouse-server.log"
ERR_LOG="$LOG_DIR/clickhouse-server.err.log"
OUT_LOG="$LOG_DIR/clickhouse.out"
PROC_PATTERN="--config-file=$CONF_DIR/config.xml"
HTTP_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/"

server_bin() {
  command -v clickhouse-server 2>/dev/null \
    || { [[ -x /usr/sbin/clickhouse-server ]] && echo /usr/sbin/clickhouse-server; } \
    || true
}

do_install() {
  local start=$SECONDS
  need_cmd curl curl
  # the package's own service (init.d/systemd) is never started: apt_install
  # blocks it with policy-rc.d, and we run the server ourselves
  apt_install clickhouse-server clickhouse-client
  [[ -n "$(server_bin)" ]] || die "clickhouse-server binary not found after install" "dpkg -L clickhouse-server"
  log "installed ($(server_bin), $(clickhouse-client --version 2>/dev/null | head -n 1)) in $((SECONDS - start))s"
}

write_config() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$CLICKHOUSE_DIR/data" "$CLICKHOUSE_DIR/tmp" \
    "$CLICKHOUSE_DIR/user_files" "$CLICKHOUSE_DIR/format_schemas"
  local interserver="<!-- interserver_http_port: off -->"
  if [[ -n "$CLICKHOUSE_INTERSERVER_PORT" ]]; then
    interserver="<interserver_http_port>$CLICKHOUSE_INTERSERVER_PORT</interserver_http_port><interserver_http_host>127.0.0.1</interserver_http_host>"
  fi
  render_template "$TEMPLATES/config.xml.template" "$CONF_DIR/config.xml" \
    "CH_DIR=$CLICKHOUSE_DIR" "CLICKHOUSE_HTTP_PORT=$CLICKHOUSE_HTTP_PORT" \
    "CLICKHOUSE_TCP_PORT=$CLICKHOUSE_TCP_PORT" "INTERSERVER=$interserver" \
    "CLICKHOUSE_TIMEZONE=$CLICKHOUSE_TIMEZONE"
  cp -f "$TEMPLATES/users.xml" "$CONF_DIR/users.xml"
}

http_ok() {
  [[ "$(curl -s -m 3 "$HTTP_URL" 2>/dev/null || true)" == "Ok." ]]
}

do_start() {
  local pid
  if pid="$(running_pid "$PID_FILE" "$PROC_PATTERN")"; then
    if http_ok; then
      log "already running (pid $pid), http $HTTP_URL, tcp 127.0.0.1:$CLICKHOUSE_TCP_PORT"
      return 0
    fi
    log "running (pid $pid) but not answering yet; waiting"
    wait_until "$CLICKHOUSE_START_TIMEOUT" "$pid" "$ERR_LOG:$OUT_LOG" "clickhouse at $HTTP_URL" http_ok \
      || { do_stop; die "ClickHouse did not become ready; it was stopped" "read the log tail above; '$0 reset' wipes the data folder if it is corrupt"; }
    return 0
  fi
  do_install
  require_port_free "$CLICKHOUSE_HTTP_PORT" "clickhouse http" CLICKHOUSE_HTTP_PORT
  require_port_free "$CLICKHOUSE_TCP_PORT" "clickhouse tcp" CLICKHOUSE_TCP_PORT
  if [[ -n "$CLICKHOUSE_INTERSERVER_PORT" ]]; then
    require_port_free "$CLICKHOUSE_INTERSERVER_PORT" "clickhouse interserver" CLICKHOUSE_INTERSERVER_PORT
  fi
  write_config
  local f
  for f in "$OUT_LOG" "$ERR_LOG"; do
    if [[ -f "$f" ]]; then mv -f "$f" "$f.prev"; fi
  done
  log "starting ClickHouse at $HTTP_URL (tcp 127.0.0.1:$CLICKHOUSE_TCP_PORT, data $CLICKHOUSE_DIR)"
  local start=$SECONDS
  # foreground mode (no --daemon), detached by spawn(); runs as the current
  # user (root), which owns every path in our config
  spawn "$PID_FILE" "$OUT_LOG" "$(server_bin)" "$PROC_PATTERN"
  pid="$(cat "$PID_FILE")"
  wait_until "$CLICKHOUSE_START_TIMEOUT" "$pid" "$ERR_LOG:$OUT_LOG:$SERVER_LOG" "clickhouse at $HTTP_URL (pid $pid)" http_ok \
    || { do_stop; die "ClickHouse did not become ready; it was stopped" "read the log tail above; '$0 reset' wipes the data folder if it is corrupt"; }
  log "started in $((SECONDS - start))s"
}

do_stop() {
  stop_service "$PID_FILE" "$PROC_PATTERN" clickhouse "$CLICKHOUSE_STOP_TIMEOUT"
}

do_status() {
  local pid version
  if ! pid="$(running_pid "$PID_FILE" "$PROC_PATTERN")"; then
    printf 'clickhouse  stopped    -        http 127.0.0.1:%s tcp 127.0.0.1:%s (data %s)\n' \
      "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" "$CLICKHOUSE_DIR"
    return "$STATUS_STOPPED"
  fi
  if http_ok; then
    version="$(curl -s -m 3 "${HTTP_URL}?query=SELECT%20version()" 2>/dev/null || true)"
    printf 'clickhouse  running    %-8s http 127.0.0.1:%s tcp 127.0.0.1:%s (v%s, data %s)\n' \
      "$pid" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" "$version" "$CLICKHOUSE_DIR"
    return "$STATUS_OK"
  fi
  printf 'clickhouse  unhealthy  %-8s %s does not answer Ok. (see %s)\n' "$pid" "$HTTP_URL" "$ERR_LOG"
  return "$STATUS_UNHEALTHY"
}

do_reset() {
  with_lock clickhouse do_stop
  log "wiping $CLICKHOUSE_DIR (all databases and logs)"
  rm -rf "$CLICKHOUSE_DIR"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) do_install ;;
  start)   with_lock clickhouse do_start ;;
  stop)    with_lock clickhouse do_stop ;;
  restart) with_lock clickhouse do_stop; with_lock clickhouse do_start ;;
  status)  do_status ;;
  logs)    show_logs "$SERVER_LOG" "$@" ;;
  reset)   do_reset ;;
  *) usage_die "{install|start|stop|status|restart|logs [-f] [N]|reset}" ;;
esac
