#!/usr/bin/env bash
# `make test`: start the test environment, run go test with its variables
# exported, stop the environment (also on failure or interrupt); then the
# failover tests against two DCs (failover-tests.sh). The exit status is
# non-zero when either failed.
#
#   scripts/testenv/run-tests.sh [go test arguments]   (default: -race -count=1 ./...)
#   GATEHOUSE_TESTENV_KEEP=1 …       leave the services running afterwards
#   GATEHOUSE_TESTENV_FAILOVER=1|0   run the failover tests, or not; unset:
#                                    only with the default arguments
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

failover=${GATEHOUSE_TESTENV_FAILOVER:-}
if [ "$#" = 0 ]; then
	set -- -race -count=1 ./...
	failover=${failover:-1}
fi
cd "$REPO"
# The GATEHOUSE_TESTENV_* knobs are for these scripts only: the gatehouse
# binary refuses any GATEHOUSE_ variable it does not know (GATEHOUSE_TEST_*
# excepted), so the tests that run it must not see them.
unset_knobs=()
for v in $(compgen -e); do
	case $v in GATEHOUSE_TESTENV_*) unset_knobs+=(-u "$v") ;; esac
done
rc=0
timed "go test" env "${unset_knobs[@]}" go test "$@" || rc=$?

if [ "$failover" = 1 ]; then
	# The single-DC services are done with; the two DCs are a separate
	# environment (their own namespace and directories).
	stop_env
	frc=0
	timed "failover (total)" "$TESTENV_SCRIPTS/failover-tests.sh" 9>&- || frc=$?
	log "go test: exit $rc; failover tests: exit $frc"
	[ "$rc" != 0 ] || rc=$frc
elif [ "$failover" = 0 ]; then
	log "failover tests not run (GATEHOUSE_TESTENV_FAILOVER=0)"
else
	log "failover tests not run (go test arguments given; GATEHOUSE_TESTENV_FAILOVER=1 adds them)"
fi
exit "$rc"
