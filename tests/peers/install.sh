#!/bin/sh
# tests/peers/install.sh: install the third-party test peers that come from
# the npm registry (emulators, clients, SDKs). Each peer group is a folder
# here with a package.json and a package-lock.json; this runs `npm ci` in
# each whose lock file changed since the last install (a stamp file in
# node_modules/ records the lock's hash), so repeated runs cost nothing.
# Tests find a peer at tests/peers/<group>/node_modules/.
set -eu
cd "$(dirname "$0")"
command -v npm >/dev/null 2>&1 || {
	echo "peers: npm not found (deploy/install-deps.sh --test installs it)" >&2
	exit 1
}
for lock in */package-lock.json; do
	[ -f "$lock" ] || continue
	dir=$(dirname "$lock")
	want=$(sha256sum "$lock" | cut -d' ' -f1)
	stamp="$dir/node_modules/.cairn-lock-sha256"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		continue
	fi
	echo "peers: npm ci in tests/peers/$dir" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" >"$stamp"
done
