#!/usr/bin/env bash
# Starts the whole test environment — installs missing packages, then a
# private PostgreSQL and a Samba AD DC — and prints `export VAR=…` lines for
# every GATEHOUSE_TEST_* variable on stdout (progress and timings on stderr):
#
#   eval "$(scripts/testenv/start.sh)"
#   go test ./...
#   scripts/testenv/stop.sh
#
# Re-runnable: services already running from this state directory are
# stopped and started fresh (empty database, pristine directory). The same
# lines are written to $GATEHOUSE_TESTENV_DIR/env.sh (default .testenv/env.sh).
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root "start.sh"

mkdir -p "$STATE/logs"
STATE=$(cd "$STATE" && pwd)
export GATEHOUSE_TESTENV_DIR=$STATE
if [ ! -f "$STATE/.gitignore" ]; then printf '*\n' >"$STATE/.gitignore"; fi

ok=0
cleanup() { [ "$ok" = 1 ] || "$TESTENV_SCRIPTS/stop.sh" || true; }
trap cleanup EXIT

t0=$(now_ms)
timed "install (if missing)" "$TESTENV_SCRIPTS/install.sh"
timed "postgres start" "$TESTENV_SCRIPTS/postgres.sh" start
timed "samba start" "$TESTENV_SCRIPTS/samba.sh" start
"$TESTENV_SCRIPTS/env.sh" >"$STATE/env.sh.tmp"
mv "$STATE/env.sh.tmp" "$STATE/env.sh"
log "$(printf '%-22s %6.1fs' "environment ready" "$(( $(now_ms) - t0 ))e-3")  (variables also in $STATE/env.sh)"
cat "$STATE/env.sh"
ok=1
