#!/usr/bin/env bash
# Installs the Debian packages the test environment needs — only those that
# are missing. Idempotent and a no-op (well under a second) when all are there.
#
# Package scripts must not start services with the distribution's config, so
# /usr/sbin/policy-rc.d answers 101 ("action forbidden") during the install;
# any system postgres/samba daemon that an install started anyway is stopped
# by its pid file afterwards.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# iproute2: `ip` brings up lo in samba2.sh's network namespace (unshare,
# nsenter and mount come from essential packages).
PACKAGES=(samba-ad-dc samba-ad-provision ldap-utils ldb-tools openssl faketime postgresql xmlsec1 iproute2)
PACKAGES+=(chromium) # headless browser for test/e2e (WebAuthn virtual authenticator)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" = 0 ]; then
	exit 0
fi

need_root "install.sh"
log "installing missing packages: ${missing[*]}"

POLICY=/usr/sbin/policy-rc.d
policy_backup=""
restore_policy() {
	if [ -n "$policy_backup" ]; then
		mv -f "$policy_backup" "$POLICY"
	fi
}
if ! { [ -x "$POLICY" ] && grep -qx 'exit 101' "$POLICY"; }; then
	if [ -e "$POLICY" ]; then
		policy_backup=$(mktemp /usr/sbin/policy-rc.d.gatehouse.XXXXXX)
		cp -p "$POLICY" "$policy_backup"
	fi
	printf '#!/bin/sh\n# written by gatehouse scripts/testenv/install.sh: packages must not start services\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	# A policy file we wrote stays (it only stops package scripts from
	# starting services); one we replaced is put back.
	trap restore_policy EXIT
fi

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$STATE/logs"
ilog=$STATE/logs/install.log
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)
if ! { "${APT[@]}" update && "${APT[@]}" install -y --no-install-recommends "${missing[@]}"; } >"$ilog" 2>&1; then
	show_log_tail "$ilog"
	die "apt-get failed (log: $ilog)"
fi

# Whatever policy-rc.d said, make sure no system-wide daemon of these
# packages is left running: stop each by its pid file, never by name.
for pidfile in /run/postgresql/*.pid /run/samba/samba.pid /run/samba/smbd.pid \
	/run/samba/nmbd.pid /run/samba/winbindd.pid; do
	[ -f "$pidfile" ] || continue
	pid=$(read_pid "$pidfile" || true)
	if pid_runs "$pid" postgres || pid_runs "$pid" samba || pid_runs "$pid" smbd ||
		pid_runs "$pid" nmbd || pid_runs "$pid" winbindd; then
		stop_pid "system service from $pidfile" "$pid" 20
	fi
done
log "installed: ${missing[*]}"
