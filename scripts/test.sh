#!/usr/bin/env bash
# make test: provision Redis, a private Docker engine, the test mail image and Chromium, then run
# the whole suite. With CI=true nothing may skip. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/provision.sh test
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=dms_admin.settings_test
export DMS_ADMIN_TEST_CACHE=${DMS_ADMIN_TEST_CACHE:-$HOME/.cache/dms-admin-test}

echo "==> lint, types, migrations"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check .; exit 1; }
.venv/bin/mypy dms_admin access accounts spam backups mailrules
make --no-print-directory check >/dev/null

started_engine=0
if [ -z "${DOCKER_HOST:-}" ]; then
  if [ "$(id -u)" != 0 ] && [ "${CI:-}" != true ]; then
    echo "Not root and no DOCKER_HOST: the tests that need a Docker engine will skip." >&2
  else
    $PY -m tests.realenv status >/dev/null 2>&1 || started_engine=1
  fi
fi
stop_engine() { [ "$started_engine" = 1 ] && $PY -m tests.realenv stop || true; }
trap stop_engine EXIT
if [ -n "${DOCKER_HOST:-}" ] || [ "$(id -u)" = 0 ]; then
  echo "==> preparing the Docker engine and the test mail image"
  $PY -m tests.realenv prepare >/dev/null
fi

set +e
$PY -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit "$status"
