#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests, run as the `postgres` OS user,
# listening on 127.0.0.1 only, on a free high port, with its unix socket in
# the state directory. Database gatehouse_test, owned by role gatehouse
# (password gatehouse-test, CREATEDB so tests can make throwaway databases).
#
#   postgres.sh start    (re)start the cluster and recreate gatehouse_test empty
#   postgres.sh stop     pg_ctl stop (by the pid in postmaster.pid)
#   postgres.sh status   exit 0 when running
#   postgres.sh env      print the GATEHOUSE_TEST_PG_DSN export line
#
# The cluster (initdb) is kept between runs; every start drops and recreates
# the database, so tests always begin from an empty gatehouse_test.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=gatehouse_test
ROLE=gatehouse
ROLE_PASSWORD=gatehouse-test
PG_USER=postgres
POINTER=$STATE/postgres.dir # holds the cluster root actually in use

pg_bindir() {
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
	if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
		die "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/testenv/install.sh)"
	fi
	printf '%s' "$d"
}

as_pg() { runuser -u "$PG_USER" -- "$@"; }

# pg_root: the cluster root. Normally $STATE/postgres; when the postgres user
# cannot reach the state directory (a parent is not world-searchable) or the
# socket path would be too long, a directory under /tmp named after $STATE.
choose_root() {
	local root=$STATE/postgres
	mkdir -p "$root"
	chown "$PG_USER:" "$root"
	if ! as_pg test -w "$root" || [ "${#root}" -gt 80 ]; then
		root=/tmp/gatehouse-testenv-pg.$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
		mkdir -p "$root"
		chown "$PG_USER:" "$root"
		chmod 700 "$root"
		log "postgres: $STATE is not usable by the $PG_USER user; cluster in $root"
	fi
	printf '%s\n' "$root" >"$POINTER"
	printf '%s' "$root"
}

pg_root() {
	if [ -s "$POINTER" ]; then cat "$POINTER"; else printf '%s' "$STATE/postgres"; fi
}

port_file() { printf '%s/port' "$(pg_root)"; }

running() {
	local root pid
	root=$(pg_root)
	pid=$(read_pid "$root/data/postmaster.pid" 2>/dev/null || true)
	pid_runs "$pid" "$root/data"
}

init_cluster() {
	local root=$1 bin=$2 ver
	ver=$("$bin/postgres" -V | awk '{print $NF}' | cut -d. -f1)
	if [ -f "$root/data/PG_VERSION" ] && [ "$(cat "$root/data/PG_VERSION")" = "$ver" ]; then
		return 0
	fi
	rm -rf "$root/data"
	mkdir -p "$root/data" "$root/run"
	chown "$PG_USER:" "$root/data" "$root/run"
	chmod 700 "$root/data"
	if ! as_pg "$bin/initdb" -D "$root/data" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1; then
		show_log_tail "$root/initdb.log"
		die "initdb failed (log: $root/initdb.log)"
	fi
	cat >>"$root/data/postgresql.conf" <<-CONF
		# --- gatehouse test environment (scripts/testenv/postgres.sh) ---
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$root/run'
		max_connections = 200
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		log_min_messages = warning
		log_line_prefix = '%m [%p] %q%u@%d '
	CONF
}

start() {
	local root bin port attempt
	need_root "postgres.sh start"
	stop
	root=$(choose_root)
	bin=$(pg_bindir)
	timed "postgres: cluster" init_cluster "$root" "$bin"
	mkdir -p "$root/run"
	chown "$PG_USER:" "$root/run"
	touch "$root/postgres.log"
	chown "$PG_USER:" "$root/postgres.log"
	for attempt in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 30000))
		tcp_open 127.0.0.1 "$port" && continue
		if as_pg "$bin/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t 30 \
			-o "-p $port" start >>"$root/pg_ctl.log" 2>&1; then
			printf '%s\n' "$port" >"$root/port"
			break
		fi
		log "postgres: start on port $port failed (attempt $attempt), trying another port"
		port=""
	done
	if [ -z "$port" ]; then
		show_log_tail "$root/pg_ctl.log" "$root/postgres.log"
		die "postgres did not start (logs: $root/pg_ctl.log, $root/postgres.log)"
	fi
	local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$root/run" -p "$port" -U postgres -d postgres)
	if ! as_pg "${psql[@]}" >>"$root/pg_ctl.log" 2>&1 <<-SQL; then
		DROP DATABASE IF EXISTS $DB WITH (FORCE);
		DO \$\$ BEGIN
		  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
		    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE_PASSWORD';
		  END IF;
		END \$\$;
		CREATE DATABASE $DB OWNER $ROLE;
	SQL
		show_log_tail "$root/pg_ctl.log" "$root/postgres.log"
		die "creating database $DB failed"
	fi
	log "postgres ready on 127.0.0.1:$port (pid $(read_pid "$root/data/postmaster.pid"))"
}

stop() {
	local root bin pid
	root=$(pg_root)
	[ -f "$root/data/postmaster.pid" ] || return 0
	pid=$(read_pid "$root/data/postmaster.pid" || true)
	pid_runs "$pid" "$root/data" || return 0
	bin=$(pg_bindir)
	log "stopping postgres (pid $pid)"
	if ! as_pg "$bin/pg_ctl" -D "$root/data" -m fast -w -t 30 stop >>"$root/pg_ctl.log" 2>&1; then
		stop_pid postgres "$pid" 10
	fi
}

print_env() {
	local port
	port=$(cat "$(port_file)" 2>/dev/null) || die "postgres has not been started (no $(port_file))"
	printf "export GATEHOUSE_TEST_PG_DSN='postgres://%s:%s@127.0.0.1:%s/%s?sslmode=disable'\n" \
		"$ROLE" "$ROLE_PASSWORD" "$port" "$DB"
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) running ;;
env) print_env ;;
*) die "usage: $0 start|stop|status|env" ;;
esac
