# shellcheck shell=bash
# Shared helpers for scripts/testenv/*. Sourced, never run.
#
# Everything the test environment creates lives in one state directory,
# $GATEHOUSE_TESTENV_DIR (default: <repo>/.testenv). Logs and progress go to
# stderr; stdout is reserved for the `export VAR=…` lines of start.sh/env.sh.

TESTENV_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$TESTENV_SCRIPTS/../.." && pwd)
STATE=${GATEHOUSE_TESTENV_DIR:-$REPO/.testenv}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() { date +%s%3N; }

# timed LABEL CMD...: runs CMD, then logs how long it took (on stderr).
timed() {
	local label=$1 t0 rc=0
	shift
	t0=$(now_ms)
	"$@" || rc=$?
	log "$(printf '%-22s %6.1fs%s' "$label" "$(( $(now_ms) - t0 ))e-3" "$([ "$rc" = 0 ] || echo "  (exit $rc)")")"
	return "$rc"
}

need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root (it starts Samba and PostgreSQL as system users)"; }

# pid_alive PID: true when a process with that pid exists.
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# pid_runs PID TEXT: true when process PID is alive and its command line, or
# the path of a file it has open, contains TEXT (Samba rewrites its command
# line, but keeps its log open) — guards against a stale pid file naming a
# reused pid.
pid_runs() {
	local fd
	pid_alive "$1" || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2" && return 0
	for fd in /proc/"$1"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in *"$2"*) return 0 ;; esac
	done
	return 1
}

# read_pid FILE: prints the first field of the first line of a pid file.
read_pid() { [ -s "$1" ] && head -n1 "$1" | awk '{print $1}'; }

# stop_pid NAME PID [TIMEOUT_S]: TERM the pid, wait for it to exit, KILL after
# TIMEOUT_S (default 10). Never by process name.
stop_pid() {
	local name=$1 pid=$2 timeout=${3:-10} i
	pid_alive "$pid" || return 0
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < timeout * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	log "$name (pid $pid) did not exit after ${timeout}s: sending KILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	die "$name (pid $pid) survived KILL"
}

# tcp_open HOST PORT: true when something accepts TCP connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# show_log_tail FILE...: prints the last lines of each log to stderr.
show_log_tail() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		printf -- '----- last lines of %s -----\n' "$f" >&2
		tail -n 40 "$f" >&2
		printf -- '-----\n' >&2
	done
}
