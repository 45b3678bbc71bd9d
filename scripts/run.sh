#!/usr/bin/env bash
# make run: everything to try dms-admin on one machine. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/provision.sh run

export DMS_ADMIN_DATA_DIR=${DMS_ADMIN_DATA_DIR:-$PWD/var}
mkdir -p "$DMS_ADMIN_DATA_DIR"
if [ -z "${SECRET_KEY:-}" ] && [ -z "${SECRET_KEY_FILE:-}" ]; then
  export SECRET_KEY_FILE="$DMS_ADMIN_DATA_DIR/secret_key"
  [ -s "$SECRET_KEY_FILE" ] || (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > "$SECRET_KEY_FILE")
fi
export DMS_CONFIG_DIR=${DMS_CONFIG_DIR:-$DMS_ADMIN_DATA_DIR/demo-config}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1,$HOST}
PY=.venv/bin/python

pids=()
cleanup() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "stopped."
}
trap cleanup INT TERM EXIT

if [ -z "${REDIS_URL:-}" ]; then
  REDIS_PORT=${REDIS_PORT:-6390}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DMS_ADMIN_DATA_DIR" >"$DMS_ADMIN_DATA_DIR/redis.log" 2>&1 &
  pids+=($!)
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

[ -d "$DMS_CONFIG_DIR" ] || $PY manage.py demo_config
$PY manage.py migrate --noinput >/dev/null
$PY manage.py ensure_admin
$PY manage.py collectstatic --noinput >/dev/null

.venv/bin/gunicorn dms_admin.wsgi --bind "$HOST:$PORT" --workers 2 --threads 4 --access-logfile - &
pids+=($!)
$PY manage.py rqworker default backups --with-scheduler &
pids+=($!)
$PY manage.py rqcron dms_admin.cron &
pids+=($!)

echo
echo "dms-admin is running: open http://$HOST:$PORT/  (config folder: $DMS_CONFIG_DIR)"
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}"
echo "a process exited; stopping the others." >&2
exit 1
