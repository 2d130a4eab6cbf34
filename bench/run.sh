#!/usr/bin/env bash
# `make bench`: the benchmark end to end. Uses the test environment
# (scripts/testenv) when its DC is already running, otherwise starts it and
# stops it again at the end; builds gatehouse and the bench; runs the bench,
# which starts `gatehouse serve`, creates and removes its users, and writes
# the Markdown report (bench/results/<date>.md and stdout).
#
#   bench/run.sh [bench flags]          e.g. bench/run.sh -journeys 100 -hold 0
#   make bench BENCH_ARGS='-journeys 100'
#   BENCH_REV=HEAD~3 bench/run.sh       gatehouse as of a commit (git archive;
#   make bench BENCH_REV=HEAD           the working tree is not touched), e.g.
#                                       to compare before and after a change
#
# Holds the test environment's lock (.testenv/run.lock) while it runs, so
# `make test` neither restarts the DC under the benchmark nor loads the
# machine it measures; one waits for the other.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/testenv/lib.sh"
cd "$REPO"

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-build.XXXXXX")
started=0
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	rm -rf "$work"
	if [ "$started" = 1 ]; then
		log "bench: stopping the test environment it started"
		"$TESTENV_SCRIPTS/stop.sh" 9>&- || log "bench: stopping the test environment failed"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$STATE"
exec 9>"$STATE/run.lock"
if ! flock -n 9; then
	log "bench: make test (or another bench) is using $STATE; waiting for it (up to 30 min)"
	flock -w 1800 9 || die "bench: gave up waiting for the lock on $STATE/run.lock"
fi

if [ -f "$STATE/env.sh" ] && "$TESTENV_SCRIPTS/samba.sh" status 9>&-; then
	log "bench: reusing the running test environment ($STATE/env.sh)"
	# shellcheck source=/dev/null
	. "$STATE/env.sh"
else
	log "bench: starting the test environment"
	started=1
	env_lines=$("$TESTENV_SCRIPTS/start.sh" 9>&-)
	eval "$env_lines"
fi

# The report names the build; a dirty tree is worth knowing.
if [ -n "${BENCH_REV:-}" ]; then
	commit=$(git rev-parse --short "$BENCH_REV^{commit}") || die "bench: BENCH_REV=$BENCH_REV is not a commit"
	log "bench: building gatehouse as of $BENCH_REV ($commit), and the bench"
	mkdir "$work/src"
	git archive --format=tar "$commit" | tar -x -C "$work/src"
	(cd "$work/src" && go build -o "$work/gatehouse" ./cmd/gatehouse)
else
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit="$commit+uncommitted changes"
	log "bench: building gatehouse ($commit) and the bench"
	go build -o "$work/gatehouse" ./cmd/gatehouse
fi
go build -o "$work/bench" ./bench
"$work/bench" -gatehouse "$work/gatehouse" -commit "${commit:-unknown}" "$@" 9>&-
