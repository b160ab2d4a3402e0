#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) for local runs and tests, without Docker.
#
#   deploy/local/kafka.sh {install|start|stop|status|restart|logs [-f] [N]|reset}
#
# Jars come from Maven Central through Maven (deploy/local/kafka/pom.xml) into
# a cache folder, fetched only when missing. See deploy/local/README.md.
set -euo pipefail

export ALLOT_COMPONENT=kafka
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION=4.1.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_LIBS_DIR="${KAFKA_LIBS_DIR:-$ALLOT_CACHE/kafka-$KAFKA_VERSION/libs}"
KAFKA_DIR="${KAFKA_DIR:-$ALLOT_LOCAL_HOME/kafka}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_DEDUPE_BUFFER="${KAFKA_DEDUPE_BUFFER:-16777216}"
KAFKA_RETENTION_HOURS="${KAFKA_RETENTION_HOURS:-24}"
# Empty = Kafka 4.1's default at format time (transaction.version=2). Set to 1
# to format with the pre-KIP-890 transaction protocol. Only applies when the
# data folder is (re)formatted: `kafka.sh reset` first.
KAFKA_TRANSACTION_VERSION="${KAFKA_TRANSACTION_VERSION:-}"

TEMPLATES="$ALLOT_DEPLOY_DIR/kafka"
CONF_DIR="$KAFKA_DIR/config"
DATA_DIR="$KAFKA_DIR/data"
LOG_DIR="$KAFKA_DIR/logs"
PID_FILE="$KAFKA_DIR/kafka.pid"
SERVER_LOG="$LOG_DIR/server.log"
OUT_LOG="$LOG_DIR/kafka.out"
PROC_PATTERN="kafka.Kafka $CONF_DIR/server.properties"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    command -v java || true
  fi
}

check_java() {
  local java ver
  java="$(java_bin)"
  [[ -n "$java" ]] || die "java not found" "apt-get install -y openjdk-17-jre-headless (Kafka $KAFKA_VERSION needs Java 17+)"
  ver="$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  ver="${ver%%.*}"
  if [[ "$ver" =~ ^[0-9]+$ ]] && (( ver < 17 )); then
    die "Java $ver found at $java; Kafka $KAFKA_VERSION needs 17+" "apt-get install -y openjdk-17-jre-headless, or set JAVA_HOME"
  fi
}

libs_ready() { [[ -f "$KAFKA_LIBS_DIR/.complete" ]]; }

fetch_libs() {
  libs_ready && return 0
  need_cmd mvn maven
  local tmp="$KAFKA_LIBS_DIR.tmp.$$" start=$SECONDS
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS_DIR (once)"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$TEMPLATES/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch the Kafka jars" "check access to Maven Central (mvn -X ...), proxy settings in ~/.m2/settings.xml, then re-run '$0 install'"
  fi
  compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
    || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn" "inspect $TEMPLATES/pom.xml"; }
  touch "$tmp/.complete"
  rm -rf "$KAFKA_LIBS_DIR"
  mkdir -p "$(dirname "$KAFKA_LIBS_DIR")"
  mv "$tmp" "$KAFKA_LIBS_DIR"
  log "jars fetched in $((SECONDS - start))s ($(find "$KAFKA_LIBS_DIR" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS_DIR" | cut -f1))"
}

do_install() {
  local start=$SECONDS
  check_java
  need_cmd curl curl
  need_cmd kcat kcat
  with_lock kafka-libs fetch_libs
  log "installed (libs: $KAFKA_LIBS_DIR, kcat: $(command -v kcat)) in $((SECONDS - start))s"
}

write_config() {
  mkdir -p "$CONF_DIR" "$DATA_DIR" "$LOG_DIR"
  render_template "$TEMPLATES/server.properties.template" "$CONF_DIR/server.properties" \
    "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" \
    "KAFKA_DATA_DIR=$DATA_DIR" "KAFKA_DEDUPE_BUFFER=$KAFKA_DEDUPE_BUFFER" \
    "KAFKA_RETENTION_HOURS=$KAFKA_RETENTION_HOURS"
  cp -f "$TEMPLATES/log4j2.yaml" "$CONF_DIR/log4j2.yaml"
  cp -f "$TEMPLATES/tools-log4j2.yaml" "$CONF_DIR/tools-log4j2.yaml"
}

storage_tool() {
  "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="file:$CONF_DIR/tools-log4j2.yaml" \
    -cp "$KAFKA_LIBS_DIR/*" kafka.tools.StorageTool "$@"
}

# Format the data folder unless it already is (data is kept across restarts;
# `reset` wipes it).
format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cid args
  cid="$(storage_tool random-uuid)"
  args=(format -t "$cid" -c "$CONF_DIR/server.properties" --ignore-formatted)
  if [[ -n "$KAFKA_TRANSACTION_VERSION" ]]; then
    args+=(--feature "transaction.version=$KAFKA_TRANSACTION_VERSION")
  fi
  log "formatting $DATA_DIR (cluster id $cid${KAFKA_TRANSACTION_VERSION:+, transaction.version=$KAFKA_TRANSACTION_VERSION})"
  storage_tool "${args[@]}" >>"$LOG_DIR/format.log" 2>&1 \
    || { show_tail "$LOG_DIR/format.log"; die "kafka storage format failed" "'$0 reset' to wipe $DATA_DIR, then start again"; }
}

metadata_ok() {
  if command -v kcat >/dev/null 2>&1; then
    kcat -L -b "$BOOTSTRAP" -m 3 2>/dev/null | grep -q "broker 1 at"
  else
    port_open "$KAFKA_PORT"
  fi
}

broker_ready() {
  grep -q 'Kafka Server started' "$SERVER_LOG" 2>/dev/null && metadata_ok
}

do_start() {
  local pid
  if pid="$(running_pid "$PID_FILE" "$PROC_PATTERN")"; then
    if metadata_ok; then
      log "already running (pid $pid) at $BOOTSTRAP"
      return 0
    fi
    log "running (pid $pid) but not answering yet; waiting"
    wait_until "$KAFKA_START_TIMEOUT" "$pid" "$SERVER_LOG" "kafka at $BOOTSTRAP" metadata_ok \
      || { do_stop; die "Kafka did not become ready; it was stopped" "read the log tail above; '$0 reset' wipes the data folder if it is corrupt; raise KAFKA_START_TIMEOUT on a slow machine"; }
    return 0
  fi
  do_install
  require_port_free "$KAFKA_PORT" "kafka broker" KAFKA_PORT
  require_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller" KAFKA_CONTROLLER_PORT
  write_config
  format_storage
  # start each run with a fresh server.log so readiness does not see an old
  # "Kafka Server started" line
  local f
  for f in "$SERVER_LOG" "$OUT_LOG"; do
    if [[ -f "$f" ]]; then mv -f "$f" "$f.prev"; fi
  done
  local heap=() extra=()
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  if [[ -n "$KAFKA_JVM_OPTS" ]]; then read -r -a extra <<<"$KAFKA_JVM_OPTS"; fi
  log "starting Kafka $KAFKA_VERSION at $BOOTSTRAP (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, data $KAFKA_DIR)"
  local start=$SECONDS
  spawn "$PID_FILE" "$OUT_LOG" "$(java_bin)" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true "${extra[@]}" \
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="file:$CONF_DIR/log4j2.yaml" \
    -cp "$KAFKA_LIBS_DIR/*" kafka.Kafka "$CONF_DIR/server.properties"
  pid="$(cat "$PID_FILE")"
  wait_until "$KAFKA_START_TIMEOUT" "$pid" "$SERVER_LOG:$OUT_LOG" "kafka at $BOOTSTRAP (pid $pid)" broker_ready \
    || { do_stop; die "Kafka did not become ready; it was stopped" "read the log tail above; '$0 reset' wipes the data folder if it is corrupt; raise KAFKA_START_TIMEOUT on a slow machine"; }
  log "started in $((SECONDS - start))s"
}

do_stop() {
  stop_service "$PID_FILE" "$PROC_PATTERN" kafka "$KAFKA_STOP_TIMEOUT"
}

do_status() {
  local pid
  if ! pid="$(running_pid "$PID_FILE" "$PROC_PATTERN")"; then
    printf 'kafka       stopped    -        %s (data %s)\n' "$BOOTSTRAP" "$KAFKA_DIR"
    return "$STATUS_STOPPED"
  fi
  if metadata_ok; then
    printf 'kafka       running    %-8s %s (controller :%s, data %s)\n' "$pid" "$BOOTSTRAP" "$KAFKA_CONTROLLER_PORT" "$KAFKA_DIR"
    return "$STATUS_OK"
  fi
  printf 'kafka       unhealthy  %-8s %s not answering metadata (see %s)\n' "$pid" "$BOOTSTRAP" "$SERVER_LOG"
  return "$STATUS_UNHEALTHY"
}

do_reset() {
  with_lock kafka do_stop
  log "wiping $KAFKA_DIR (topics, offsets, logs); the next start formats a fresh cluster"
  rm -rf "$KAFKA_DIR"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install) do_install ;;
  start)   with_lock kafka do_start ;;
  stop)    with_lock kafka do_stop ;;
  restart) with_lock kafka do_stop; with_lock kafka do_start ;;
  status)  do_status ;;
  logs)    show_logs "$SERVER_LOG" "$@" ;;
  reset)   do_reset ;;
  *) usage_die "{install|start|stop|status|restart|logs [-f] [N]|reset}" ;;
esac
