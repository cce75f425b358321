#!/usr/bin/env bash
# Makes PostgreSQL server binaries available for the test fixtures (which start their own
# server on loopback, as an unprivileged user). Installs Debian's package when missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  SUDO="sudo -n"
else
  echo "PostgreSQL server binaries are missing and cannot be installed without root;" >&2
  echo "install 'postgresql' (Debian/Ubuntu) or the PostgreSQL tests will be skipped locally." >&2
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "No apt-get here: install the PostgreSQL server (initdb, pg_ctl) yourself." >&2
  exit 0
fi
echo "Installing PostgreSQL server binaries (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql > /dev/null
