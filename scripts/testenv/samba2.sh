#!/usr/bin/env bash
# Two replicating Samba AD DCs of CORP.EXAMPLE.TEST for the failover tests,
# inside a private network + mount namespace (AD.md, "A second DC"):
#
#   dc1.corp.example.test = 127.0.0.1   copied from samba.sh's template (the
#                                       seeded directory), DNS server on
#   dc2.corp.example.test = 127.0.0.2   joined with `samba-tool domain join … DC`
#
# The namespace has only `lo`; a private /etc/hosts names the two DCs, a
# private resolv.conf points at their DNS servers and a private nsswitch.conf
# says `hosts: files dns`, so nothing is looked up, or sent, outside it. The
# host's own 127.0.0.1 (and the single DC of samba.sh) is a different address
# space: both environments can run at the same time.
#
#   samba2.sh start          (re)build and start both DCs; progress on stderr
#   samba2.sh stop           stop both DCs and the namespace (by pid files;
#                            works from inside and outside the namespace)
#   samba2.sh status         exit 0 when the namespace and both DCs run
#   samba2.sh env            print the export lines for the failover tests
#   samba2.sh exec CMD…      run CMD inside the namespace, in the current
#                            directory, with those variables and
#                            GATEHOUSE_TEST_FAILOVER=1 exported
#   samba2.sh dc-stop NAME   stop one DC (dc1|dc2) by its pid file
#   samba2.sh dc-start NAME  start it again, same database (no-op if it runs)
#
# State ($GATEHOUSE_TESTENV_DIR, default <repo>/.testenv): samba2/dc1,
# samba2/dc2, samba2/ns (hosts, resolv.conf, nsswitch.conf, pid of the
# process that holds the namespace); logs in logs/samba2-*.log. Every start
# is fresh: dc1 from the template, dc2 joined anew.
set -euo pipefail
# The functions and constants of samba.sh (sourcing it runs nothing); it
# also sources lib.sh.
# shellcheck source=scripts/testenv/samba.sh
. "$(dirname "${BASH_SOURCE[0]}")/samba.sh"

FO_ROOT=$STATE/samba2
NS=$FO_ROOT/ns
NS_TAG="gatehouse-testenv-netns $STATE"
FO_LOG=$LOGS/samba2-setup.log
ADMIN_CREDS=(-U Administrator "--password=$ADMIN_PASSWORD")

fo_dir() { printf '%s/%s' "$FO_ROOT" "$1"; }
fo_conf() { printf '%s/etc/smb.conf' "$(fo_dir "$1")"; }
fo_ip() {
	case $1 in
	dc1) printf '127.0.0.1' ;;
	dc2) printf '127.0.0.2' ;;
	*) die "unknown DC '$1' (dc1 or dc2)" ;;
	esac
}
fo_host() { printf '%s.%s' "$1" "$DNS_DOMAIN"; }
fo_pid() { read_pid "$(fo_dir "$1")/run/samba.pid" 2>/dev/null || true; }
fo_running() { pid_runs "$(fo_pid "$1")" "$(fo_dir "$1")/"; }

# ---------------------------------------------------------------- namespace
ns_pid() {
	local pid
	pid=$(read_pid "$NS/pid" 2>/dev/null || true)
	pid_runs "$pid" "$NS_TAG" && printf '%s' "$pid"
}

in_namespace() {
	local pid
	pid=$(ns_pid) || return 1
	[ "$(readlink /proc/self/ns/net)" = "$(readlink "/proc/$pid/ns/net")" ]
}

# in_ns CMD…: run CMD inside the namespace (absolute paths only: entering a
# mount namespace resets the working directory).
in_ns() {
	local pid
	pid=$(ns_pid) || die "the two-DC namespace of $STATE is not running (scripts/testenv/samba2.sh start)"
	if in_namespace; then
		"$@"
	else
		nsenter -t "$pid" -n -m -- "$@"
	fi
}

# ns_pids: every process in the namespace except its holder.
ns_pids() {
	local holder net p
	holder=$(ns_pid) || return 0
	net=$(readlink "/proc/$holder/ns/net") || return 0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != "$holder" ] || continue
		[ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$net" ] && printf '%s\n' "$p"
	done
	return 0
}

start_ns() {
	local i pid
	mkdir -p "$NS"
	printf '127.0.0.1\tlocalhost %s dc1\n127.0.0.2\t%s dc2\n::1\tlocalhost\n' \
		"$(fo_host dc1)" "$(fo_host dc2)" >"$NS/hosts"
	printf 'nameserver 127.0.0.1\nnameserver 127.0.0.2\nsearch %s\noptions timeout:1 attempts:1\n' \
		"$DNS_DOMAIN" >"$NS/resolv.conf"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n' >"$NS/nsswitch.conf"
	for f in /etc/hosts /etc/resolv.conf /etc/nsswitch.conf; do
		[ -f "$f" ] || die "$f is missing or a dangling link: cannot bind-mount a private copy over it"
	done
	rm -f "$NS/ready" "$NS/pid"
	# The holder: a process that only keeps the namespace alive, named so
	# that a stale pid file cannot make us kill anything else. setsid (no
	# fork: a background job is no group leader), unshare and bash exec into
	# it, so $! is its pid; its own session keeps a Ctrl-C or a signal to
	# the caller's process group from killing it before stop can look
	# inside the namespace for what is left.
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
	setsid unshare --net --mount --propagation private -- bash -c '
		set -e
		ip link set lo up
		for f in hosts resolv.conf nsswitch.conf; do mount --bind "$1/$f" "/etc/$f"; done
		: >"$1/ready"
		exec -a "$2" sleep infinity' _ "$NS" "$NS_TAG" </dev/null >>"$LOGS/samba2-ns.log" 2>&1 9>&- &
	pid=$!
	printf '%s\n' "$pid" >"$NS/pid"
	for ((i = 0; i < 100; i++)); do
		[ -e "$NS/ready" ] && pid_runs "$pid" "$NS_TAG" && return 0
		pid_alive "$pid" || break
		sleep 0.05
	done
	show_log_tail "$LOGS/samba2-ns.log"
	die "could not set up the network namespace (unshare/ip/mount; log: $LOGS/samba2-ns.log)"
}

stop_ns() {
	local pid p left
	pid=$(ns_pid) || { rm -f "$NS/pid"; return 0; }
	# Anything still inside (a test binary, a samba child that outlived its
	# parent) was started in this private namespace by us: TERM it by pid.
	# Not when called from inside, where that would include the caller.
	left=
	if in_namespace; then
		log "stop called from inside the namespace: not looking for other processes in it"
	else
		left=$(ns_pids)
	fi
	if [ -n "$left" ]; then
		for p in $left; do
			log "still in the namespace: pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80))"
		done
		for p in $left; do stop_pid "namespace process" "$p" 10; done
	fi
	stop_pid "namespace holder" "$pid" 5
	rm -f "$NS/pid" "$NS/ready"
}

# ---------------------------------------------------------------- DCs
# samba_tool ARGS…: samba-tool inside the namespace, output to the setup log.
samba_tool() {
	printf '+ samba-tool %s\n' "$1 $2" >>"$FO_LOG"
	if ! in_ns samba-tool "$@" >>"$FO_LOG" 2>&1; then
		show_log_tail "$FO_LOG"
		die "samba-tool $1 $2 failed (log: $FO_LOG)"
	fi
}

# smb_conf_set CONF KEY VALUE: replace (or add, in [global]) one of the lines
# configure_dc writes.
smb_conf_set() {
	local conf=$1 key=$2 value=$3 tmp
	tmp=$(mktemp)
	awk -v key="$key" -v line="$key = $value" '
		BEGIN { done = 0 }
		$0 ~ "^[[:space:]]*" key "[[:space:]]*=" { if (!done) print line; done = 1; next }
		{ print }
		/^[[:space:]]*\[global\][[:space:]]*$/ && !done { print line; done = 1 }
	' "$conf" >"$tmp"
	mv "$tmp" "$conf"
}

# fo_configure NAME: what the two-DC setup changes on top of configure_dc:
# the internal DNS server runs (the DCs find each other's
# <ntdsguid>._msdcs names and Kerberos through it), the interface.
fo_configure() {
	local conf
	conf=$(fo_conf "$1")
	smb_conf_set "$conf" "server services" "-nbt -wrepl -dnsupdate"
	smb_conf_set "$conf" "interfaces" "$(fo_ip "$1")/8"
}

# restore_dc1: dc1 from samba.sh's template; only smb.conf names its
# directory, so the copy is moved by rewriting those paths.
restore_dc1() {
	local dir old line out
	dir=$(fo_dir dc1)
	old=$(dc_dir dc1)
	rm -rf "$dir"
	mkdir -p "$FO_ROOT"
	cp -a "$TEMPLATE" "$dir"
	rm -f "$dir/.gatehouse-template"
	out=$(mktemp)
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "${line//"$old"/"$dir"}"
	done <"$dir/etc/smb.conf" >"$out"
	mv "$out" "$dir/etc/smb.conf"
	if grep -qF "$old/" "$dir/etc/smb.conf"; then die "could not move $dir/etc/smb.conf away from $old"; fi
	fo_configure dc1
	# The template's certificate names GATEHOUSE_TESTENV_DC1_IP.
	if [ "$(dc_ip dc1)" != "$(fo_ip dc1)" ]; then
		make_cert dc1 "$(fo_ip dc1)" "$dir/tls"
	fi
}

join_dc2() {
	local dir empty
	dir=$(fo_dir dc2)
	empty=$FO_ROOT/empty.conf
	rm -rf "$dir"
	mkdir -p "$FO_ROOT"
	: >"$empty"
	samba_tool domain join "$DNS_DOMAIN" DC --server="$(fo_host dc1)" "${ADMIN_CREDS[@]}" \
		--targetdir="$dir" -s "$empty" --dns-backend=SAMBA_INTERNAL \
		--option="netbios name = DC2" --option="interfaces = $(fo_ip dc2)/8" \
		--option="bind interfaces only = yes"
	make_cert dc2 "$(fo_ip dc2)" "$dir/tls"
	configure_dc "$dir"
	fo_configure dc2
}

# dns_records: provision skips loopback addresses and the join removes the
# records it would not have made, so the A records of both DCs and dc2's
# <ntdsguid>._msdcs CNAME (what replication resolves) are added by hand.
dns_records() {
	local guid
	guid=$(in_ns ldbsearch -H "$(fo_dir dc2)/private/sam.ldb" -s base \
		-b "CN=NTDS Settings,CN=DC2,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,$BASE_DN" \
		objectGUID 2>>"$FO_LOG" | awk '/^objectGUID:/ {print $2}')
	[ -n "$guid" ] || die "could not read dc2's NTDS Settings objectGUID (log: $FO_LOG)"
	samba_tool dns add "$(fo_ip dc1)" "$DNS_DOMAIN" dc1 A "$(fo_ip dc1)" -s "$(fo_conf dc1)" "${ADMIN_CREDS[@]}"
	samba_tool dns add "$(fo_ip dc1)" "$DNS_DOMAIN" dc2 A "$(fo_ip dc2)" -s "$(fo_conf dc1)" "${ADMIN_CREDS[@]}"
	samba_tool dns add "$(fo_ip dc1)" "_msdcs.$DNS_DOMAIN" "$guid" CNAME "$(fo_host dc2)" -s "$(fo_conf dc1)" "${ADMIN_CREDS[@]}"
}

# fo_start NAME: start a DC inside the namespace and wait for LDAPS.
fo_start() {
	local name=$1 dir pid i t0
	dir=$(fo_dir "$name")
	fo_stop "$name"
	: >"$dir/log/samba.log"
	if ! in_ns samba -s "$(fo_conf "$name")" -D </dev/null >>"$LOGS/samba2-start.log" 2>&1 9>&-; then
		show_log_tail "$LOGS/samba2-start.log" "$dir/log/samba.log"
		die "samba $name did not start"
	fi
	t0=$(now_ms)
	for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
		if in_ns env LDAPTLS_CACERT="$CA_DIR/ca.pem" LDAPTLS_REQCERT=demand \
			timeout 5 ldapsearch -x -LLL -o nettimeout=3 -H "ldaps://$(fo_host "$name")" -b '' -s base \
			defaultNamingContext >/dev/null 2>&1; then
			log "samba $name ready on ldaps://$(fo_host "$name") (pid $(fo_pid "$name")) $(($(now_ms) - t0)) ms after start"
			return 0
		fi
		pid=$(fo_pid "$name")
		if [ "$i" -gt 10 ] && ! pid_alive "$pid"; then
			show_log_tail "$dir/log/samba.log"
			die "samba $name exited while starting (log: $dir/log/samba.log)"
		fi
		sleep 0.2
	done
	show_log_tail "$dir/log/samba.log"
	die "samba $name did not answer LDAPS within ${READY_TIMEOUT}s (log: $dir/log/samba.log)"
}

# fo_stop NAME: TERM the DC's pid and wait until its LDAP ports are closed
# (its worker processes exit after the master), so it can start again.
fo_stop() {
	local name=$1 dir pid i
	dir=$(fo_dir "$name")
	pid=$(fo_pid "$name")
	if pid_runs "$pid" "$dir/"; then
		stop_pid "samba $name" "$pid" 20
	fi
	rm -f "$dir/run/samba.pid"
	ns_pid >/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		if ! in_ns bash -c "(exec 3<>/dev/tcp/$(fo_ip "$name")/636) 2>/dev/null || (exec 3<>/dev/tcp/$(fo_ip "$name")/389) 2>/dev/null"; then
			return 0
		fi
		sleep 0.1
	done
	die "$name stopped, but something still listens on $(fo_ip "$name"):389/636 in the namespace"
}

spn_update() {
	local name
	for name in dc1 dc2; do
		printf '+ samba_spnupdate %s\n' "$name" >>"$FO_LOG"
		in_ns samba_spnupdate -s "$(fo_conf "$name")" >>"$FO_LOG" 2>&1 ||
			die "samba_spnupdate on $name failed (log: $FO_LOG)"
	done
}

# replicate_once: one pull each way of the domain partition, proving that
# replication works both ways before any test. --add-ref puts each DC in the
# other's repsTo: without it neither notifies the other of a change, and a
# user created on dc1 reaches dc2 only with dc2's periodic pull (5 min).
replicate_once() {
	samba_tool drs replicate --add-ref "$(fo_host dc2)" "$(fo_host dc1)" "$BASE_DN" -s "$(fo_conf dc1)" "${ADMIN_CREDS[@]}"
	samba_tool drs replicate --add-ref "$(fo_host dc1)" "$(fo_host dc2)" "$BASE_DN" -s "$(fo_conf dc1)" "${ADMIN_CREDS[@]}"
}

fo_start_all() {
	local t0
	t0=$(now_ms)
	: >"$FO_LOG"
	stop_all
	timed "samba2: template" ensure_template
	timed "samba2: namespace" start_ns
	timed "samba2: dc1 restore" restore_dc1
	timed "samba2: dc1 start" fo_start dc1
	timed "samba2: dc2 join" join_dc2
	timed "samba2: dns records" dns_records
	timed "samba2: dc2 start" fo_start dc2
	timed "samba2: spn update" spn_update
	timed "samba2: replicate" replicate_once
	log "$(printf '%-22s %6.1fs' "samba2 ready" "$(($(now_ms) - t0))e-3")"
}

# stop_all: both DCs at once (each takes a second or two to shut down),
# then the namespace.
stop_all() {
	local rc=0 p1 p2
	fo_stop dc1 &
	p1=$!
	fo_stop dc2 &
	p2=$!
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	stop_ns || rc=1
	return "$rc"
}

print_fo_env() {
	cat <<-ENV
		export GATEHOUSE_TESTENV_DIR='$STATE'
		export GATEHOUSE_TEST_AD_DC1_URL='ldaps://$(fo_host dc1):636'
		export GATEHOUSE_TEST_AD_DC2_URL='ldaps://$(fo_host dc2):636'
		export GATEHOUSE_TEST_AD_DC1_SMB_CONF='$(fo_conf dc1)'
		export GATEHOUSE_TEST_AD_DC2_SMB_CONF='$(fo_conf dc2)'
		export GATEHOUSE_TEST_AD_FAILOVER_CTL='$TESTENV_SCRIPTS/samba2.sh'
		export GATEHOUSE_TEST_AD_CA_FILE='$CA_DIR/ca.pem'
		export GATEHOUSE_TEST_AD_BIND_DN='$SVC_DN'
		export GATEHOUSE_TEST_AD_BIND_PASSWORD='$SVC_PASSWORD'
		export GATEHOUSE_TEST_AD_BASE_DN='$BASE_DN'
		export GATEHOUSE_TEST_AD_ADMIN_PASSWORD='$ADMIN_PASSWORD'
	ENV
}

fo_main() {
	local cmd=${1:-}
	[ "$#" = 0 ] || shift
	case $cmd in
	start)
		need_root "samba2.sh start"
		mkdir -p "$LOGS"
		fo_start_all
		;;
	stop) stop_all ;;
	status) ns_pid >/dev/null && fo_running dc1 && fo_running dc2 ;;
	env) print_fo_env ;;
	exec)
		[ "$#" -gt 0 ] || die "usage: $0 exec COMMAND [ARGS…]"
		local pid
		pid=$(ns_pid) || die "the two-DC namespace of $STATE is not running (scripts/testenv/samba2.sh start)"
		eval "$(print_fo_env)"
		export GATEHOUSE_TEST_FAILOVER=1
		exec nsenter -t "$pid" -n -m --wd="$PWD" -- "$@"
		;;
	dc-stop | dc-start)
		[ "$#" = 1 ] || die "usage: $0 $cmd dc1|dc2"
		fo_ip "$1" >/dev/null
		if [ "$cmd" = dc-stop ]; then
			fo_stop "$1"
		elif ! fo_running "$1"; then
			fo_start "$1"
		fi
		;;
	*) die "usage: $0 start|stop|status|env|exec CMD…|dc-stop NAME|dc-start NAME" ;;
	esac
}

fo_main "$@"
