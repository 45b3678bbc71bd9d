#!/bin/sh
# dms-admin container entry point.
#   web     migrate, create the first admin if none (its password is printed once), then gunicorn
#   worker  the RQ worker with scheduler (queues default and backups)
#   cron    the rqcron scheduler
#   other   run as given, e.g. `python manage.py check --deploy`
set -eu
cd /app
case "${1:-web}" in
  web)
    shift || true
    python manage.py migrate --noinput
    python manage.py ensure_admin
    exec gunicorn --config /app/compose/gunicorn.conf.py dms_admin.wsgi "$@"
    ;;
  worker)
    shift
    exec python manage.py rqworker default backups --with-scheduler "$@"
    ;;
  cron)
    shift
    exec python manage.py rqcron dms_admin.cron "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
