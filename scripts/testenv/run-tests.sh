#!/usr/bin/env bash
# `make test`: start the test environment, run go test with its variables
# exported, stop the environment (also on failure or interrupt), and exit with
# go test's status.
#
#   scripts/testenv/run-tests.sh [go test arguments]   (default: -race -count=1 ./...)
#   GATEHOUSE_TESTENV_KEEP=1 …   leave the services running afterwards
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stopped=0
# shellcheck disable=SC2317 # called from the EXIT trap
stop_env() {
	[ "$stopped" = 0 ] || return 0
	stopped=1
	if [ "${GATEHOUSE_TESTENV_KEEP:-}" = 1 ]; then
		log "GATEHOUSE_TESTENV_KEEP=1: leaving the services running; stop them with scripts/testenv/stop.sh"
		return 0
	fi
	timed "stop" "$TESTENV_SCRIPTS/stop.sh" || log "stopping the test environment failed"
}
# One `make test` at a time per state directory: a second one waits here
# instead of restarting the services under the first one's tests.
mkdir -p "$STATE"
exec 9>"$STATE/run.lock"
if ! flock -n 9; then
	log "another make test is using $STATE; waiting for it (up to 30 min)"
	flock -w 1800 9 || die "gave up waiting for the lock on $STATE/run.lock"
fi

trap stop_env EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 9>&-: the daemons must not inherit (and so keep holding) the lock.
env_lines=$("$TESTENV_SCRIPTS/start.sh" 9>&-)
eval "$env_lines"

if [ "$#" = 0 ]; then
	set -- -race -count=1 ./...
fi
cd "$REPO"
rc=0
timed "go test" go test "$@" || rc=$?
exit "$rc"
