#!/usr/bin/env bash
# Runs every gate of the project, cheapest first, and is what CI runs (.ci/run):
#   1. cargo fmt --check            4. install + start Kafka, ClickHouse, Prometheus
#   2. cargo clippy -D warnings     5. integration, interop and CLI tests against them
#   3. unit tests (no services)     6. stop the services (also on failure)
# Usage: deploy/local/test-all.sh [--keep-running]
#   --keep-running   leave the services up afterwards (for a rerun of one test).
# Env: ALLOT_LOCAL_HOME (data, default <repo>/.local), KAFKA_PORT, CLICKHOUSE_HTTP_PORT,
#      PROMETHEUS_PORT (see deploy/local/README.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
export ALLOT_COMPONENT=test
cd "$ALLOT_REPO_ROOT"

keep=0
[[ "${1:-}" == "--keep-running" ]] && keep=1

started=$(date +%s)
step() { log "== $* ($(($(date +%s) - started)) s elapsed)"; }

# Rust is the one thing the scripts do not install (rustup is on every machine here).
command -v cargo >/dev/null || die "cargo not found" "install Rust with rustup (https://rustup.rs)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "1/7 formatting"
cargo fmt --all --check

step "2/7 clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "3/7 unit tests (no services needed)"
cargo test --workspace --all-features --locked --lib --bins

step "4/7 installing and starting Kafka, ClickHouse, Prometheus"
"$here/stack.sh" install
if [[ $keep -eq 0 ]]; then
  trap '"$here/stack.sh" stop || true' EXIT
fi
"$here/stack.sh" start

# KAFKA_BOOTSTRAP, CLICKHOUSE_URL, PROMETHEUS_URL, ALLOT_PYTHON, PROMETHEUS_TARGETS_DIR, ...
eval "$("$here/stack.sh" env)"

step "5/7 integration tests against the real services, interop, doc tests"
cargo test --workspace --all-features --locked --test '*'
cargo test --workspace --all-features --locked --doc

step "6/7 deployment files: Dockerfile, compose, Kubernetes manifests (offline validation)"
cargo build --locked -p allot-pipeline --bin allot
ALLOT_BIN="$ALLOT_REPO_ROOT/target/debug/allot" ALLOT_CHECK_STRICT=1 "$ALLOT_REPO_ROOT/deploy/check.sh"

step "7/7 done: every gate passed"
