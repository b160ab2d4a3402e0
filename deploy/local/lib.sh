# shellcheck shell=bash
# Shared helpers for deploy/local/*.sh. Source it, do not run it.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything here is plain bash + coreutils + util-linux (setsid, flock), which
# a fresh Debian 12 has. No ps/pgrep/ss needed: processes are found in /proc.

if [[ -n "${_ALLOT_LIB_LOADED:-}" ]]; then return 0; fi
_ALLOT_LIB_LOADED=1

# --- locations ---------------------------------------------------------------

ALLOT_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

# Repo root: git if available, else two levels above deploy/local.
allot_repo_root() {
  local root=""
  if command -v git >/dev/null 2>&1; then
    root="$(git -C "$ALLOT_DEPLOY_DIR" rev-parse --show-toplevel 2>/dev/null || true)"
  fi
  if [[ -z "$root" ]]; then
    root="$(cd "$ALLOT_DEPLOY_DIR/../.." && pwd -P)"
  fi
  printf '%s\n' "$root"
}

ALLOT_REPO_ROOT="${ALLOT_REPO_ROOT:-$(allot_repo_root)}"
ALLOT_LOCAL_HOME="${ALLOT_LOCAL_HOME:-$ALLOT_REPO_ROOT/.local}"
ALLOT_CACHE="${ALLOT_CACHE:-${HOME:-/root}/.cache/allot}"
export ALLOT_REPO_ROOT ALLOT_LOCAL_HOME ALLOT_CACHE

# --- logging -----------------------------------------------------------------

# Set by each script before use, e.g. ALLOT_COMPONENT=kafka.
ALLOT_COMPONENT="${ALLOT_COMPONENT:-local}"

_ts() { date '+%H:%M:%S'; }
log()  { printf '[%s %s] %s\n' "$(_ts)" "$ALLOT_COMPONENT" "$*" >&2; }
warn() { printf '[%s %s] WARNING: %s\n' "$(_ts)" "$ALLOT_COMPONENT" "$*" >&2; }

# die MESSAGE [HINT]: print an error and what to do about it, exit 1.
die() {
  printf '[%s %s] ERROR: %s\n' "$(_ts)" "$ALLOT_COMPONENT" "$1" >&2
  if [[ $# -gt 1 && -n "$2" ]]; then
    printf '[%s %s]   fix: %s\n' "$(_ts)" "$ALLOT_COMPONENT" "$2" >&2
  fi
  exit 1
}

# show_tail FILE [N]: print the last N lines of a log file to stderr.
show_tail() {
  local file="$1" n="${2:-40}"
  if [[ -s "$file" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2 || true
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf -- '----- %s is empty or missing -----\n' "$file" >&2
  fi
}

# --- privileges, locking -----------------------------------------------------

# as_root CMD...: run as root (directly, or through sudo when available).
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $*" "run this script as root (or install sudo)"
  fi
}

# with_lock NAME CMD...: serialize CMD across concurrent callers (e.g. parallel
# test processes all calling `start`). Lock files live in $ALLOT_CACHE/locks.
# Nesting different NAMEs is fine (bash restores the outer fd 9 afterwards);
# never nest the same NAME. spawn() closes fd 9 so services do not hold it.
with_lock() {
  local name="$1"; shift
  mkdir -p "$ALLOT_CACHE/locks"
  local lockfile="$ALLOT_CACHE/locks/$name.lock"
  local rc=0
  {
    if ! flock -w 600 9; then
      die "timed out waiting for lock $lockfile" "another $name operation is stuck; check it or delete the lock file"
    fi
    "$@" || rc=$?
  } 9>"$lockfile"
  return "$rc"
}

# --- packages ------------------------------------------------------------------

_ALLOT_APT_UPDATED=0

# apt_has_candidate PKG: true when apt knows an installable version of PKG.
apt_has_candidate() {
  local cand
  cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
  [[ -n "$cand" && "$cand" != "(none)" ]]
}

# dpkg_installed PKG: true when PKG is fully installed.
dpkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# apt_install [--no-install-recommends] PKG...: install the missing packages.
# Runs `apt-get update` once when a package has no candidate (fresh machine).
# While installing, a temporary policy-rc.d stops packages (prometheus!) from
# starting their own system service, which would grab our ports.
apt_install() {
  local p missing=0
  for p in "$@"; do
    [[ "$p" == --* ]] && continue
    dpkg_installed "$p" || missing=1
  done
  [[ $missing -eq 1 ]] || return 0
  # one apt-get at a time, also across parallel callers of these scripts
  with_lock apt _apt_install_locked "$@"
}

_apt_install_locked() {
  local opts=() missing=() p
  if [[ "${1:-}" == "--no-install-recommends" ]]; then opts+=("$1"); shift; fi
  for p in "$@"; do
    dpkg_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; cannot install ${missing[*]}" "install ${missing[*]} by hand (these scripts target Debian 12)"
  for p in "${missing[@]}"; do
    if ! apt_has_candidate "$p" && [[ $_ALLOT_APT_UPDATED -eq 0 ]]; then
      log "apt-get update (no candidate for $p yet)"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || die "apt-get update failed" "check network access to the Debian mirror and /etc/apt/sources.list*"
      _ALLOT_APT_UPDATED=1
    fi
    apt_has_candidate "$p" || die "apt has no package '$p'" "run 'apt-get update' and check /etc/apt/sources.list* (Debian 12 bookworm main is needed)"
  done
  log "apt-get install ${opts[*]} ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d placed=0
  if [[ ! -e "$policy" ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && placed=1
  fi
  local rc=0 aptlog start=$SECONDS
  mkdir -p "$ALLOT_CACHE"
  aptlog="$ALLOT_CACHE/apt-install.log"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${opts[@]}" "${missing[@]}" >"$aptlog" 2>&1 || rc=$?
  if [[ $placed -eq 1 ]]; then as_root rm -f "$policy"; fi
  if [[ $rc -ne 0 ]]; then
    show_tail "$aptlog" 30
    die "apt-get install ${missing[*]} failed (exit $rc)" "run 'apt-get update' then retry; see the apt output above ($aptlog)"
  fi
  log "apt-get install ${missing[*]}: done in $((SECONDS - start))s"
  # Where no policy-rc.d could be placed (not root) a package may still have
  # started its own service, which would hold our ports: stop it, but only
  # for the packages installed just now.
  for p in "${missing[@]}"; do
    stop_packaged_service "$p"
  done
}

# stop_packaged_service NAME: stop the distribution's own service NAME
# (init.d or systemd) when it is running. We run our own instance instead.
stop_packaged_service() {
  local name="$1"
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    if systemctl is-active --quiet "$name" 2>/dev/null; then
      log "stopping and disabling the packaged $name service (we run our own instance)"
      as_root systemctl disable --now "$name" >/dev/null 2>&1 || true
    fi
  elif [[ -x "/etc/init.d/$name" ]]; then
    if as_root "/etc/init.d/$name" status >/dev/null 2>&1; then
      log "stopping the packaged $name service (we run our own instance)"
      as_root "/etc/init.d/$name" stop >/dev/null 2>&1 || true
    fi
  fi
}

# need_cmd CMD PKG: make sure CMD exists, installing Debian package PKG if not.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2" "install $2 by hand"
}

# --- processes -------------------------------------------------------------------

# proc_cmdline PID: the command line of PID, NULs turned into spaces.
proc_cmdline() {
  [[ -r "/proc/$1/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
}

# pid_matches PID PATTERN: PID is alive, not a zombie, and its command line
# contains PATTERN (guards against a stale pid file whose pid got reused).
pid_matches() {
  local pid="$1" pattern="$2" cmd state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '/^State:/ {print $2; exit}' "/proc/$pid/status" 2>/dev/null || true)"
  [[ "$state" != "Z" ]] || return 1
  cmd="$(proc_cmdline "$pid")" || return 1
  [[ "$cmd" == *"$pattern"* ]]
}

# pids_matching PATTERN: every live pid whose command line contains PATTERN
# (excluding this shell and its parents' helpers).
pids_matching() {
  local pattern="$1" d pid cmd
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "${BASHPID:-}" ]] && continue
    cmd="$(proc_cmdline "$pid" 2>/dev/null)" || continue
    [[ -n "$cmd" && "$cmd" == *"$pattern"* ]] || continue
    # skip shells/greps that merely mention the pattern in their arguments
    case "$cmd" in
      bash\ *|sh\ *|/bin/bash\ *|/bin/sh\ *|grep\ *|*/grep\ *|tail\ *) continue ;;
    esac
    pid_matches "$pid" "$pattern" && printf '%s\n' "$pid"
  done
  return 0
}

# pidfile_pid FILE PATTERN: print the pid from FILE when that process is ours
# and alive; otherwise remove a stale FILE and return 1.
pidfile_pid() {
  local file="$1" pattern="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(tr -dc '0-9' <"$file" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && pid_matches "$pid" "$pattern"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$file"
  return 1
}

# running_pid PIDFILE PATTERN: the pid of our service, from the pid file or,
# when the pid file was lost, from /proc (and the pid file is rewritten).
running_pid() {
  local file="$1" pattern="$2" pid
  if pid="$(pidfile_pid "$file" "$pattern")"; then
    printf '%s\n' "$pid"; return 0
  fi
  pid="$(pids_matching "$pattern" | head -n 1)"
  if [[ -n "$pid" ]]; then
    printf '%s\n' "$pid" >"$file"
    printf '%s\n' "$pid"; return 0
  fi
  return 1
}

# spawn PIDFILE OUTFILE CMD...: start CMD detached (own session, stdin from
# /dev/null, stdout+stderr appended to OUTFILE) and write its pid to PIDFILE.
# The pid is that of CMD itself (exec), not of a wrapper.
spawn() {
  local pidfile="$1" outfile="$2"; shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$outfile")"
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and $@ expand in the child shell on purpose
  # 9>&-: do not leak the with_lock fd into the long-lived service
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$outfile" 2>&1 9>&- &
  for _ in $(seq 1 50); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start: $*" "see $outfile"
}

# stop_pid PID NAME [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 30),
# then SIGKILL. Signals the whole process group when PID leads one (spawn()
# uses setsid, so children go too). Returns once PID is gone.
stop_pid() {
  local pid="$1" name="$2" timeout="${3:-30}" pgid target
  pgid="$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null || true)"
  target="$pid"
  if [[ -n "$pgid" && "$pgid" == "$pid" ]]; then target="-$pid"; fi
  log "stopping $name (pid $pid): SIGTERM, up to ${timeout}s"
  kill -TERM -- "$target" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [[ "$(awk '/^State:/ {print $2; exit}' "/proc/$pid/status" 2>/dev/null || true)" == "Z" ]]; then break; fi
    if (( waited >= timeout * 10 )); then
      warn "$name (pid $pid) still alive after ${timeout}s: SIGKILL"
      kill -KILL -- "$target" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  # any straggler of the group (should not happen)
  if [[ "$target" == -* ]]; then kill -KILL -- "$target" 2>/dev/null || true; fi
  log "$name stopped after $((waited / 10)).$((waited % 10))s"
}

# stop_service PIDFILE PATTERN NAME [TIMEOUT_S]: stop our process (from the pid
# file, or any process matching PATTERN), remove the pid file. No-op when not
# running.
stop_service() {
  local pidfile="$1" pattern="$2" name="$3" timeout="${4:-30}" pid any=0
  while pid="$(running_pid "$pidfile" "$pattern")"; do
    stop_pid "$pid" "$name" "$timeout"
    rm -f "$pidfile"
    any=1
  done
  rm -f "$pidfile"
  [[ $any -eq 1 ]] || log "$name is not running"
  return 0
}

# --- network, waiting ------------------------------------------------------------

# port_open PORT [HOST]: something accepts TCP connections on HOST:PORT.
port_open() {
  local port="$1" host="${2:-127.0.0.1}"
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# port_owner_hint PORT: best-effort description of who listens on PORT.
port_owner_hint() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnp "sport = :$1" 2>/dev/null | tail -n +2 || true
  fi
}

# require_port_free PORT WHAT ENVVAR: fail with advice when PORT is taken.
require_port_free() {
  local port="$1" what="$2" var="$3"
  if port_open "$port"; then
    local who; who="$(port_owner_hint "$port")"
    die "port $port ($what) is already in use by another process${who:+: $who}" \
      "stop that process, or choose another port with $var=<port>"
  fi
}

# wait_until TIMEOUT_S PID LOGFILES DESCRIPTION CMD...: poll CMD every 0.5 s
# until it succeeds. On timeout, or when PID dies, prints the tails of
# LOGFILES (':'-separated) and an error, and returns 1: callers then stop
# what they started (no half-started orphan) and exit.
wait_until() {
  local timeout="$1" pid="$2" logfiles="$3" desc="$4"; shift 4
  local start=$SECONDS logfile files=()
  IFS=':' read -r -a files <<<"$logfiles"
  while true; do
    if "$@" >/dev/null 2>&1; then
      log "$desc: ready after $((SECONDS - start))s"
      return 0
    fi
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
      for logfile in "${files[@]}"; do show_tail "$logfile" 60; done
      printf '[%s %s] ERROR: %s: process %s exited before becoming ready (logs above: %s)\n' \
        "$(_ts)" "$ALLOT_COMPONENT" "$desc" "$pid" "$logfiles" >&2
      return 1
    fi
    if (( SECONDS - start >= timeout )); then
      for logfile in "${files[@]}"; do show_tail "$logfile" 60; done
      printf '[%s %s] ERROR: %s: not ready within %ss (logs above: %s)\n' \
        "$(_ts)" "$ALLOT_COMPONENT" "$desc" "$timeout" "$logfiles" >&2
      return 1
    fi
    sleep 0.5
  done
}

# pid_alive PID: PID exists and is not a zombie.
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ "$(awk '/^State:/ {print $2; exit}' "/proc/$1/status" 2>/dev/null || true)" != "Z" ]]
}

# http_code URL: the HTTP status code of GET URL ("000" when unreachable).
http_code() {
  curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

# render_template SRC DST KEY=VALUE...: copy SRC to DST replacing @KEY@.
render_template() {
  local src="$1" dst="$2"; shift 2
  local content kv key val
  # bash 5.2: keep '&' in values literal in ${x//pat/rep}
  shopt -u patsub_replacement 2>/dev/null || true
  content="$(<"$src")"
  for kv in "$@"; do
    key="${kv%%=*}"; val="${kv#*=}"
    content="${content//@${key}@/$val}"
  done
  if grep -qE '@[A-Z_]+@' <<<"$content"; then
    die "template $src has unreplaced placeholders: $(grep -oE '@[A-Z_]+@' <<<"$content" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$content" >"$dst.tmp"
  mv -f "$dst.tmp" "$dst"
}

# show_logs FILE [-f] [LINES]: print (or follow) the last LINES of FILE.
show_logs() {
  local file="$1" follow=0 n=100 a; shift
  for a in "$@"; do
    case "$a" in
      -f|--follow) follow=1 ;;
      *[!0-9]*|'') die "bad logs argument: $a" "usage: $0 logs [-f] [LINES]" ;;
      *) n="$a" ;;
    esac
  done
  [[ -f "$file" ]] || die "no log yet at $file" "'$0 start' first"
  if [[ $follow -eq 1 ]]; then exec tail -n "$n" -F "$file"; fi
  tail -n "$n" "$file"
}

# --- command dispatch ----------------------------------------------------------

# status exit codes (LSB-like): 0 running and healthy, 1 running but not
# healthy, 3 not running.
STATUS_OK=0
STATUS_UNHEALTHY=1
STATUS_STOPPED=3
export STATUS_OK STATUS_UNHEALTHY STATUS_STOPPED

usage_die() {
  printf 'usage: %s %s\n' "$(basename "$0")" "$1" >&2
  exit 2
}
