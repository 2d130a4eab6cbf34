#!/usr/bin/env bash
# Prints the `export GATEHOUSE_TEST_*=…` lines for the services that
# start.sh started (it does not start anything):
#   eval "$(scripts/testenv/env.sh)"
set -euo pipefail
dir=$(dirname "${BASH_SOURCE[0]}")
"$dir/postgres.sh" env
"$dir/samba.sh" env
