#!/usr/bin/env bash
# The failover tests: two replicating Samba DCs (samba2.sh) in a private
# network namespace, and the tests that stop and restart dc1 under the AD
# connector. `make test` runs this after the main suite (run-tests.sh).
#
#   scripts/testenv/failover-tests.sh [test binary flags]
#       default: -test.run '^TestFailover'
#   GATEHOUSE_TESTENV_KEEP=1 …   leave both DCs running afterwards
#
# Builds the internal/directory/ad test binary outside the namespace (no
# network in there, not even for the module proxy), starts the two DCs, runs
# the binary inside with `samba2.sh exec` (which sets GATEHOUSE_TEST_FAILOVER=1
# and the GATEHOUSE_TEST_AD_DC*_ variables), stops the DCs on any exit, and
# exits with the tests' status. A run in which no TestFailover test passed —
# all skipped, or none matched — is a failure too. Output: also in
# $GATEHOUSE_TESTENV_DIR/logs/failover-test.log.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root "failover-tests.sh"

mkdir -p "$STATE/logs" "$STATE/samba2"
STATE=$(cd "$STATE" && pwd)
export GATEHOUSE_TESTENV_DIR=$STATE
if [ ! -f "$STATE/.gitignore" ]; then printf '*\n' >"$STATE/.gitignore"; fi

# One two-DC environment per state directory at a time (fd 9: samba2.sh
# keeps it away from the daemons it starts).
exec 9>"$STATE/samba2/run.lock"
if ! flock -n 9; then
	log "another failover run is using $STATE/samba2; waiting for it (up to 30 min)"
	flock -w 1800 9 || die "gave up waiting for the lock on $STATE/samba2/run.lock"
fi

stopped=0
# shellcheck disable=SC2317 # called from the EXIT trap
stop_dcs() {
	[ "$stopped" = 0 ] || return 0
	stopped=1
	if [ "${GATEHOUSE_TESTENV_KEEP:-}" = 1 ]; then
		log "GATEHOUSE_TESTENV_KEEP=1: leaving both DCs running; enter with scripts/testenv/samba2.sh exec bash, stop with scripts/testenv/samba2.sh stop"
		return 0
	fi
	timed "samba2 stop" "$TESTENV_SCRIPTS/samba2.sh" stop || log "stopping the two-DC environment failed"
}
trap stop_dcs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$#" = 0 ]; then
	set -- -test.run '^TestFailover'
fi

bin=$STATE/samba2/ad.test
out=$STATE/logs/failover-test.log
cd "$REPO"
timed "failover: build" go test -c -race -o "$bin" ./internal/directory/ad/
timed "samba2 start" "$TESTENV_SCRIPTS/samba2.sh" start

# The package directory as working directory, like go test.
cd "$REPO/internal/directory/ad"
t0=$(now_ms)
set +e
"$TESTENV_SCRIPTS/samba2.sh" exec "$bin" -test.v -test.count=1 -test.timeout=15m "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
log "$(printf '%-22s %6.1fs  (exit %s; output in %s)' "failover tests" "$(($(now_ms) - t0))e-3" "$rc" "$out")"
if [ "$rc" = 0 ]; then
	if grep -q -- '--- SKIP: TestFailover' "$out"; then
		log "FAIL: a failover test skipped inside the two-DC namespace (see above)"
		rc=1
	elif ! grep -q -- '^--- PASS: TestFailover' "$out"; then
		log "FAIL: no TestFailover test ran (test binary flags: $*)"
		rc=1
	fi
fi
exit "$rc"
