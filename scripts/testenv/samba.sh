#!/usr/bin/env bash
# A throwaway Samba AD DC for the tests: realm CORP.EXAMPLE.TEST, domain CORP,
# host dc1, listening on 127.0.0.1 only (LDAP 389, LDAPS 636, Kerberos 88, …;
# GATEHOUSE_TESTENV_DC1_IP=127.0.0.N picks another loopback address, e.g. to
# run two checkouts' environments side by side).
#
#   samba.sh start    provision (first time) or restore the pristine template,
#                     then start; prints nothing on stdout
#   samba.sh stop     TERM the pid from the pid file, KILL after a timeout
#   samba.sh status   exit 0 when dc1 is running
#   samba.sh env      print the GATEHOUSE_TEST_AD_* export lines
#   samba.sh template build the template if it is missing or stale, start
#                     nothing (samba2.sh copies it for its dc1)
#
# Every start is fresh: a DC already running from this state directory is
# stopped, and its directory is replaced by a copy of the template, so tests
# always see exactly the seeded directory described in README.md. The template
# (provisioned + seeded + configured, never started) is rebuilt when this
# script or the Samba version changes.
#
# State: $STATE/ca (test CA, shared by every DC), $STATE/samba/template (the
# snapshot), $STATE/samba/dc1 (the running DC), $STATE/logs.
#
# The two-DC failover environment is samba2.sh: it sources this file for its
# functions (sourcing runs nothing), copies the template for its dc1 and
# joins a dc2, both inside a private network namespace.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REALM=CORP.EXAMPLE.TEST
DOMAIN=CORP
DNS_DOMAIN=corp.example.test
BASE_DN=DC=corp,DC=example,DC=test
ADMIN_PASSWORD='Adm1n!Passw0rd-Test'
SVC_PASSWORD='Svc!B1nd-Passw0rd'
STAFF_OU="OU=Staff,$BASE_DN"
SVC_OU="OU=Service Accounts,$BASE_DN"
SVC_DN="CN=svc-gatehouse,$SVC_OU"
READY_TIMEOUT=${GATEHOUSE_TESTENV_SAMBA_READY_TIMEOUT:-60}

CA_DIR=$STATE/ca
SAMBA_ROOT=$STATE/samba
TEMPLATE=$SAMBA_ROOT/template
LOGS=$STATE/logs

dc_dir() { printf '%s/%s' "$SAMBA_ROOT" "$1"; }
dc_ip() {
	case $1 in
	dc1) printf '%s' "${GATEHOUSE_TESTENV_DC1_IP:-127.0.0.1}" ;;
	*) die "unknown DC '$1': only dc1 exists so far (a second DC is joined, not provisioned; see the header of $0)" ;;
	esac
}

# ---------------------------------------------------------------- TLS
# make_ca: the test CA, made once per state directory and shared by all DCs.
make_ca() {
	[ -s "$CA_DIR/ca.pem" ] && [ -s "$CA_DIR/ca.key" ] && return 0
	mkdir -p "$CA_DIR"
	chmod 700 "$CA_DIR"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-subj "/O=Gatehouse tests/CN=Gatehouse Test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.pem" 2>>"$LOGS/openssl.log"
	chmod 600 "$CA_DIR/ca.key"
	chmod 644 "$CA_DIR/ca.pem"
	chmod 755 "$CA_DIR"
	# Anything signed by an older CA is now worthless.
	rm -rf "$TEMPLATE"
}

# make_cert NAME IP OUTDIR: server key (mode 600) + certificate signed by the
# test CA, with SANs NAME.corp.example.test, localhost and IP.
make_cert() {
	local name=$1 ip=$2 out=$3 ext
	mkdir -p "$out"
	ext=$(mktemp)
	cat >"$ext" <<-EXT
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=DNS:$name.$DNS_DOMAIN,DNS:localhost,IP:$ip
	EXT
	openssl req -new -newkey rsa:2048 -nodes -sha256 \
		-subj "/O=Gatehouse tests/CN=$name.$DNS_DOMAIN" \
		-keyout "$out/key.pem" -out "$out/req.csr" 2>>"$LOGS/openssl.log"
	# A positive random serial (Go refuses negative ones).
	openssl x509 -req -sha256 -days 3650 -in "$out/req.csr" \
		-CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
		-set_serial "0x$(openssl rand -hex 15)" \
		-extfile "$ext" -out "$out/cert.pem" 2>>"$LOGS/openssl.log"
	rm -f "$ext" "$out/req.csr"
	chmod 600 "$out/key.pem"
	cp "$CA_DIR/ca.pem" "$out/ca.pem"
}

# ---------------------------------------------------------------- provision
# configure_dc DIR: the smb.conf edits from AD.md, in [global].
configure_dc() {
	local dir=$1 conf=$1/etc/smb.conf tmp
	mkdir -p "$dir/run" "$dir/log"
	tmp=$(mktemp)
	awk -v extra="$(
		cat <<-CONF
			# --- gatehouse test environment (scripts/testenv/samba.sh) ---
			pid directory = $dir/run
			log file = $dir/log/samba.log
			max log size = 0
			log level = 1
			ncalrpc dir = $dir/run/ncalrpc
			winbindd socket directory = $dir/run/winbindd
			ntp signd socket directory = $dir/run/ntp_signd
			disable netbios = yes
			server services = -nbt -wrepl -dnsupdate -dns
			dns update command = /bin/true
			spn update command = /bin/true
			old password allowed period = 0
			ldap server require strong auth = no
			tls enabled = yes
			tls keyfile = $dir/tls/key.pem
			tls certfile = $dir/tls/cert.pem
			tls cafile = $dir/tls/ca.pem
		CONF
	)" '
		/^[[:space:]]*dns forwarder[[:space:]]*=/ { next }
		{ print }
		/^[[:space:]]*\[global\][[:space:]]*$/ { print extra }
	' "$conf" >"$tmp"
	mv "$tmp" "$conf"
	grep -q 'gatehouse test environment' "$conf" || die "could not edit $conf: no [global] section"
}

utf16_b64() { printf '"%s"' "$1" | iconv -f UTF-8 -t UTF-16LE | base64 -w0; }

# seed_ldif: OUs, groups, users and memberships of the test directory. Keep
# scripts/testenv/README.md and internal/testenv (Seed*) in step with it.
seed_ldif() {
	local u
	cat <<-LDIF
		dn: $SVC_OU
		objectClass: organizationalUnit
		description: Gatehouse test service accounts

		dn: $STAFF_OU
		objectClass: organizationalUnit
		description: Gatehouse test users and groups

		dn: $SVC_DN
		objectClass: user
		sAMAccountName: svc-gatehouse
		userPrincipalName: svc-gatehouse@$DNS_DOMAIN
		displayName: Gatehouse service account
		description: Binds for Gatehouse; may reset passwords and unlock users in $STAFF_OU
		unicodePwd:: $(utf16_b64 "$SVC_PASSWORD")
		userAccountControl: 66048

	LDIF
	# sam given surname mail password extra-attributes...
	while IFS='|' read -r sam given sn pw extra; do
		[ -n "$sam" ] || continue
		cat <<-LDIF
			dn: CN=$given $sn,$STAFF_OU
			objectClass: user
			sAMAccountName: $sam
			userPrincipalName: $sam@$DNS_DOMAIN
			givenName: $given
			sn: $sn
			displayName: $given $sn
			mail: $sam@$DNS_DOMAIN
			unicodePwd:: $(utf16_b64 "$pw")
		LDIF
		for u in $extra; do printf '%s\n' "${u/=/: }"; done
		printf '\n'
	done <<-USERS
		alice|Alice|Smith|Al1ce!Passw0rd|userAccountControl=512 title=Engineer department=Engineering
		bob|Bob|Jones|B0b!Passw0rd|userAccountControl=512 department=Operations
		carol|Carol|White|C4rol!Passw0rd|userAccountControl=512 department=Sales
		dave|Dave|Brown|D4ve!Passw0rd|userAccountControl=514
		erin|Erin|Green|Er1n!Passw0rd|userAccountControl=512 pwdLastSet=0
		frank|Frank|Black|Fr4nk!Passw0rd|userAccountControl=512 accountExpires=130000000000000000
		smoke|Smoke|Probe|Sm0ke!Passw0rd|userAccountControl=512
	USERS
	cat <<-LDIF
		dn: CN=Staff-All,$STAFF_OU
		objectClass: group
		sAMAccountName: Staff-All
		description: Everyone on the staff (nested: Engineers, Sales)

		dn: CN=Engineers,$STAFF_OU
		objectClass: group
		sAMAccountName: Engineers
		member: CN=Alice Smith,$STAFF_OU
		memberOf: CN=Staff-All,$STAFF_OU

		dn: CN=Sales,$STAFF_OU
		objectClass: group
		sAMAccountName: Sales
		member: CN=Carol White,$STAFF_OU

		dn: CN=Operations,$STAFF_OU
		objectClass: group
		sAMAccountName: Operations
		member: CN=Bob Jones,$STAFF_OU

	LDIF
}

seed_membership_ldif() {
	cat <<-LDIF
		dn: CN=Staff-All,$STAFF_OU
		changetype: modify
		add: member
		member: CN=Engineers,$STAFF_OU
		member: CN=Sales,$STAFF_OU
		member: CN=Bob Jones,$STAFF_OU
		-

		dn: $BASE_DN
		changetype: modify
		replace: minPwdAge
		minPwdAge: 0
		-
	LDIF
}

# provision NAME: provision + configure + seed a DC into its dir (not started),
# then snapshot it as the template.
provision() {
	local name=$1 dir ip empty sam sid plog=$LOGS/provision.log
	dir=$(dc_dir "$name")
	ip=$(dc_ip "$name")
	rm -rf "$dir" "$TEMPLATE"
	mkdir -p "$SAMBA_ROOT"
	empty=$SAMBA_ROOT/empty.conf
	: >"$empty"
	: >"$plog"
	if ! samba-tool domain provision -s "$empty" --targetdir="$dir" \
		--realm="$REALM" --domain="$DOMAIN" --host-name="$name" \
		--server-role=dc --dns-backend=SAMBA_INTERNAL --use-rfc2307 \
		--adminpass="$ADMIN_PASSWORD" \
		--option="interfaces = $ip/8" --option="bind interfaces only = yes" \
		>>"$plog" 2>&1; then
		show_log_tail "$plog"
		die "samba-tool domain provision failed (log: $plog)"
	fi
	make_cert "$name" "$ip" "$dir/tls"
	configure_dc "$dir"

	sam=$dir/private/sam.ldb
	# Offline writes through the DC's own ldb modules (passwords are hashed,
	# RIDs allocated, linked attributes kept) — much faster than samba-tool.
	# The Engineers→Staff-All link is written from the group side below;
	# memberOf is not writable, so drop that line and add members instead.
	if ! seed_ldif | grep -v '^memberOf:' | ldbadd -H "$sam" >>"$plog" 2>&1 ||
		! seed_membership_ldif | ldbmodify -H "$sam" >>"$plog" 2>&1; then
		show_log_tail "$plog"
		die "seeding the directory failed (log: $plog)"
	fi
	sid=$(ldbsearch -H "$sam" -b "$SVC_DN" -s base objectSid 2>>"$plog" | awk '/^objectSid:/ {print $2}')
	[ -n "$sid" ] || die "could not read the objectSid of $SVC_DN (log: $plog)"
	# svc-gatehouse, on users below OU=Staff (bf967aba… = class user):
	#   Reset Password (00299570…) and write lockoutTime (28630ebf…);
	# and read access to fine-grained password policies (PSOs).
	if ! samba-tool dsacl set -H "$sam" -s "$dir/etc/smb.conf" --objectdn="$STAFF_OU" \
		--sddl="(OA;CIIO;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;$sid)(OA;CIIO;WP;28630ebf-41d5-11d1-a9c1-0000f80367c1;bf967aba-0de6-11d0-a285-00aa003049e2;$sid)" \
		>>"$plog" 2>&1 ||
		! samba-tool dsacl set -H "$sam" -s "$dir/etc/smb.conf" \
			--objectdn="CN=Password Settings Container,CN=System,$BASE_DN" \
			--sddl="(A;CI;RPLCLORC;;;$sid)" >>"$plog" 2>&1; then
		show_log_tail "$plog"
		die "setting the service account's ACLs failed (log: $plog)"
	fi

	cp -a "$dir" "$TEMPLATE.tmp"
	template_stamp >"$TEMPLATE.tmp/.gatehouse-template"
	mv "$TEMPLATE.tmp" "$TEMPLATE"
}

# template_stamp: what the template was built from; a change rebuilds it.
template_stamp() {
	{
		cat "${BASH_SOURCE[0]}"
		samba -V
		sha256sum "$CA_DIR/ca.pem"
		printf '%s\n' "$STATE" "$(dc_ip dc1)"
	} | sha256sum | awk '{print $1}'
}

template_ok() {
	[ -f "$TEMPLATE/.gatehouse-template" ] &&
		[ "$(cat "$TEMPLATE/.gatehouse-template")" = "$(template_stamp)" ]
}

# ---------------------------------------------------------------- run
dc_pid() { read_pid "$(dc_dir "$1")/run/samba.pid" 2>/dev/null || true; }

ldaps_ready() {
	LDAPTLS_CACERT=$CA_DIR/ca.pem LDAPTLS_REQCERT=demand \
		timeout 5 ldapsearch -x -LLL -o nettimeout=3 -H "ldaps://$1" -b '' -s base \
		defaultNamingContext >/dev/null 2>&1
}

start_dc() {
	local name=$1 dir ip pid i t0
	dir=$(dc_dir "$name")
	ip=$(dc_ip "$name")
	stop_dc "$name"
	for port in 389 636 88; do
		if tcp_open "$ip" "$port"; then
			die "$ip:$port is already in use by another process (not the DC of $STATE): stop it first"
		fi
	done
	make_ca
	if template_ok; then
		timed "samba: restore template" restore_template "$name"
	else
		timed "samba: provision+seed" provision "$name"
	fi
	: >"$dir/log/samba.log"
	if ! samba -s "$dir/etc/smb.conf" -D >>"$LOGS/samba-start.log" 2>&1; then
		show_log_tail "$LOGS/samba-start.log" "$dir/log/samba.log"
		die "samba did not start"
	fi
	t0=$(now_ms)
	for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
		if ldaps_ready "$ip"; then
			pid=$(dc_pid "$name")
			log "samba $name ready on ldaps://$ip (pid ${pid:-?}) $(( $(now_ms) - t0 )) ms after start"
			return 0
		fi
		pid=$(dc_pid "$name")
		if [ "$i" -gt 10 ] && ! pid_alive "$pid"; then
			show_log_tail "$dir/log/samba.log"
			die "samba $name exited while starting (log: $dir/log/samba.log)"
		fi
		sleep 0.2
	done
	show_log_tail "$dir/log/samba.log"
	die "samba $name did not answer LDAPS on $ip:636 within ${READY_TIMEOUT}s (log: $dir/log/samba.log)"
}

# ensure_template: the CA and a current template, built without starting
# anything (samba2.sh copies it for the two-DC environment). A stale template
# is rebuilt in dc1's directory, so not while dc1 of this state dir runs.
ensure_template() {
	make_ca
	template_ok && return 0
	if pid_runs "$(dc_pid dc1)" "$(dc_dir dc1)/"; then
		die "the Samba template in $TEMPLATE is out of date while dc1 of $STATE runs: run samba.sh start (it rebuilds it) first"
	fi
	timed "samba: provision+seed" provision dc1
}

restore_template() {
	local dir
	dir=$(dc_dir "$1")
	rm -rf "$dir"
	cp -a "$TEMPLATE" "$dir"
	rm -f "$dir/.gatehouse-template"
}

stop_dc() {
	local pid dir
	dir=$(dc_dir "$1")
	pid=$(dc_pid "$1")
	if pid_runs "$pid" "$dir/"; then
		stop_pid "samba $1" "$pid" 20
	fi
	rm -f "$dir/run/samba.pid"
}

print_env() {
	local dir ip
	dir=$(dc_dir dc1)
	ip=$(dc_ip dc1)
	cat <<-ENV
		export GATEHOUSE_TEST_AD_URL='ldaps://$ip:636'
		export GATEHOUSE_TEST_AD_STARTTLS_URL='ldap://$ip:389'
		export GATEHOUSE_TEST_AD_CA_FILE='$CA_DIR/ca.pem'
		export GATEHOUSE_TEST_AD_BIND_DN='$SVC_DN'
		export GATEHOUSE_TEST_AD_BIND_PASSWORD='$SVC_PASSWORD'
		export GATEHOUSE_TEST_AD_BASE_DN='$BASE_DN'
		export GATEHOUSE_TEST_AD_ADMIN_PASSWORD='$ADMIN_PASSWORD'
		export GATEHOUSE_TEST_AD_SMB_CONF='$dir/etc/smb.conf'
	ENV
}

main() {
	local cmd=${1:-} name=${2:-dc1}
	case $cmd in
	start)
		need_root "samba.sh start"
		mkdir -p "$LOGS"
		start_dc "$name"
		;;
	stop) stop_dc "$name" ;;
	status) pid_runs "$(dc_pid "$name")" "$(dc_dir "$name")/" ;;
	env) print_env ;;
	template)
		need_root "samba.sh template"
		mkdir -p "$LOGS"
		ensure_template
		;;
	*) die "usage: $0 start|stop|status|env|template [dc1]" ;;
	esac
}

# Sourced (by samba2.sh, for the functions above): do nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
