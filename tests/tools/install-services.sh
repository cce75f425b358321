#!/usr/bin/env bash
# Makes the test services' programs available: PostgreSQL server binaries (the fixtures start
# their own server on loopback, as an unprivileged user) and Node.js with npm (for the Cosmos
# DB protocol server). Installs Debian's packages when something is missing.
set -euo pipefail
missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null && ! command -v initdb > /dev/null; then
  missing+=(postgresql)
fi
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  SUDO="sudo -n"
else
  echo "Missing ${missing[*]} and no root to install them: the tests that need them will be skipped locally." >&2
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "Missing ${missing[*]} and no apt-get here: install them yourself." >&2
  exit 0
fi
echo "Installing ${missing[*]} (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
