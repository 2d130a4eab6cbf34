#!/usr/bin/env bash
# Stops everything start.sh started (by pid files only). Safe to run when
# nothing is running. The state directory is kept: the next start reuses the
# Samba template and the PostgreSQL cluster.
set -euo pipefail
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rc=0
"$TESTENV_SCRIPTS/samba.sh" stop || rc=1
"$TESTENV_SCRIPTS/postgres.sh" stop || rc=1
rm -f "$STATE/env.sh"
exit "$rc"
