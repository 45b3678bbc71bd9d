#!/usr/bin/env bash
# Install what a command needs, on Debian. Usage: scripts/provision.sh run|test
# Debian packages are installed only when run as root and missing; otherwise we say what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(git python3-venv)
case "${1:-run}" in
  run)  [ -n "${REDIS_URL:-}" ] || want+=(redis-server) ;;
  test) want+=(redis-server docker.io debootstrap chromium tar gzip zstd docker-compose age) ;;  # age: the CLI decrypts our encrypted backups in tests
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Debian packages: ${missing[*]}"
    # Refresh the package lists at most once a day.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
      apt-get update -q
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "Missing Debian packages: ${missing[*]}. Install them (as root: apt-get install ${missing[*]})." >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "${1:-run}" = test ] && req=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt "$req" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages from $req"
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
