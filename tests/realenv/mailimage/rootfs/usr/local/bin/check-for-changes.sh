#!/bin/bash
# Change detector of the dms-admin test mail image, a simplified port of
# docker-mailserver v15's check-for-changes.sh: poll the checksums of the
# watched config files and regenerate Postfix/Dovecot maps on a change.

# shellcheck source=SCRIPTDIR/../lib/dms-test/helpers.sh
source /usr/local/lib/dms-test/helpers.sh

SCRIPT_NAME=check-for-changes.sh
# DMS puts the lock into the (shared) config folder so that `setup.sh` and
# other containers using the same config see it.
LOCK_FILE="${DMS_CONFIG_DIR}/${SCRIPT_NAME}.lock"
LOG_FILE=/var/log/supervisor/changedetector.log
POLL=${DMS_CONFIG_POLL:-1}
LOCK_ID=''

# stdout (-> supervisord -> `docker logs`) and the log file DMS has.
function _cd_log() {
  _log_with_date "${1}" "${2}" 2>&1 | tee -a "${LOG_FILE}"
}

function _create_lock() {
  while [[ -e ${LOCK_FILE} ]]; do
    # As in DMS: a lock older than a minute is left over from a crash.
    if [[ -n $(find "${LOCK_FILE}" -mmin +1 2>/dev/null) ]]; then
      _cd_log 'warn' 'Lock file older than 1 minute - removing stale lock file'
      rm -f "${LOCK_FILE}"
    else
      _cd_log 'warn' "Lock file '${LOCK_FILE}' exists - another execution of '${SCRIPT_NAME}' is happening - trying again shortly"
      sleep 1
    fi
  done
  LOCK_ID=$(cat /proc/sys/kernel/random/uuid)
  echo "${LOCK_ID}" >"${LOCK_FILE}"
}

function _remove_lock() {
  # Only remove a lock that is ours.
  if [[ -n ${LOCK_ID} && -f ${LOCK_FILE} && $(cat "${LOCK_FILE}" 2>/dev/null) == "${LOCK_ID}" ]]; then
    rm -f "${LOCK_FILE}"
  fi
  LOCK_ID=''
}

trap '_remove_lock' EXIT
trap 'exit 0' TERM INT

_cd_log 'info' "Starting changedetector (polling every ${POLL}s)"

# The entrypoint writes it; after a supervisord restart of just this program
# it is still there.
[[ -f ${CHKSUM_FILE} ]] || _monitored_files_checksums >"${CHKSUM_FILE}"

while true; do
  _monitored_files_checksums >"${CHKSUM_FILE}.new"
  if ! cmp --silent -- "${CHKSUM_FILE}" "${CHKSUM_FILE}.new"; then
    _cd_log 'info' 'Change detected'
    _create_lock
    _regenerate_config 2>&1 | tee -a "${LOG_FILE}"
    _reload_services 2>&1 | tee -a "${LOG_FILE}"
    _remove_lock
    _cd_log 'info' 'Completed handling of detected change'
    # Only now mark the change as applied (DMS does the same).
    mv -f -- "${CHKSUM_FILE}.new" "${CHKSUM_FILE}"
  fi
  # Background + wait so that SIGTERM is handled at once, not after the sleep.
  sleep "${POLL}" &
  wait $! || true
done
