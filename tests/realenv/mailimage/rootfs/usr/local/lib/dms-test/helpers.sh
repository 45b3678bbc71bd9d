#!/bin/bash
# Shared by the entrypoint and the change detector: logging, the checksum of
# the watched DMS config files and the regeneration of Postfix/Dovecot maps
# from /tmp/docker-mailserver (a simplified port of docker-mailserver v15).
# The entrypoint sources this with `set -euo pipefail`: keep pipelines free
# of commands that fail on "no match" (grep).

DMS_CONFIG_DIR=/tmp/docker-mailserver
# shellcheck disable=SC2034  # used by the scripts that source this file
CHKSUM_FILE=/tmp/docker-mailserver-config-chksum

# The files DMS' check-for-changes.sh watches (minus TLS certs).
DMS_WATCHED_FILES=(
  postfix-accounts.cf
  postfix-virtual.cf
  postfix-regexp.cf
  postfix-aliases.cf
  postfix-relaymap.cf
  postfix-sasl-password.cf
  dovecot-quotas.cf
  dovecot-masters.cf
)

# DMS log line format, without the colours: `[   INF   ]  message`.
function _log() {
  local LEVEL=${1} MESSAGE=${2} PREFIX
  case "${LEVEL}" in
    ( 'debug' ) PREFIX='[  DEBUG  ]' ;;
    ( 'info' )  PREFIX='[   INF   ]' ;;
    ( 'warn' )  PREFIX='[ WARNING ]' ;;
    ( 'error' ) PREFIX='[  ERROR  ]' ;;
    ( * )       PREFIX='[   INF   ]' ;;
  esac
  if [[ ${LEVEL} == 'error' ]]; then
    echo "${PREFIX}  ${MESSAGE}" >&2
  else
    echo "${PREFIX}  ${MESSAGE}"
  fi
}

function _log_with_date() {
  _log "${1}" "$(date '+%Y-%m-%d %H:%M:%S')  ${2}"
}

# `sha512sum` lines (`<hex>  /tmp/docker-mailserver/<file>`) for the watched
# files that exist; a missing file simply has no line, so creating or deleting
# one is a change too.
function _monitored_files_checksums() {
  local FILE
  local -a PRESENT=()
  for FILE in "${DMS_WATCHED_FILES[@]}"; do
    [[ -f ${DMS_CONFIG_DIR}/${FILE} ]] && PRESENT+=("${DMS_CONFIG_DIR}/${FILE}")
  done
  [[ ${#PRESENT[@]} -eq 0 ]] && return 0
  sha512sum -- "${PRESENT[@]}" 2>/dev/null || true
}

# Set a main.cf parameter, but only when its value changes. Postfix daemons
# and `postfix reload` wait until main.cf is about 2 s old before reading it
# (a guard against half-written files), so the file is back-dated after the
# edit; without that every change would cost the detector ~2 s.
function _postconf_set() {
  local NAME=${1} VALUE=${2}
  [[ $(postconf -h "${NAME}" 2>/dev/null) == "${VALUE}" ]] && return 0
  postconf -e "${NAME} = ${VALUE}"
  touch -d '-5 seconds' /etc/postfix/main.cf
}

# Print a DMS config file without CRs, blank lines and `#` comments.
function _config_lines() {
  local FILE=${1}
  [[ -f ${FILE} ]] || return 0
  sed -e 's/\r$//' -e '/^[[:space:]]*$/d' -e '/^[[:space:]]*#/d' -- "${FILE}"
}

# Replace TARGET with the content of stdin atomically (readers never see a
# half-written map).
function _write_atomically() {
  local TARGET=${1} TMP
  TMP=$(mktemp "${TARGET}.XXXXXX")
  cat >"${TMP}"
  chmod 0644 "${TMP}"
  mv -f -- "${TMP}" "${TARGET}"
}

# postfix-accounts.cf -> /etc/dovecot/userdb, /etc/postfix/vmailbox and the
# account domains on stdout; creates the mail folders (owned 5000:5000).
function _regenerate_accounts() {
  local ACCOUNTS=${DMS_CONFIG_DIR}/postfix-accounts.cf
  local QUOTAS=${DMS_CONFIG_DIR}/dovecot-quotas.cf
  local LINE LOGIN PASS ATTRS USER DOMAIN QUOTA
  local USERDB='' VMAILBOX='' DOMAINS=''

  while IFS= read -r LINE; do
    IFS='|' read -r LOGIN PASS ATTRS <<<"${LINE}"
    if [[ ${LOGIN} != *@* || -z ${PASS} ]]; then
      _log 'warn' "Ignoring malformed line in postfix-accounts.cf: '${LOGIN}'" >&2
      continue
    fi
    USER=${LOGIN%%@*}
    DOMAIN=${LOGIN#*@}
    # Further `|` separated fields are extra userdb fields too.
    ATTRS=${ATTRS//|/ }

    # DMS puts the quota from dovecot-quotas.cf (`user@domain:SIZE`) in front.
    if [[ -f ${QUOTAS} ]]; then
      QUOTA=$(_config_lines "${QUOTAS}" | awk -F: -v login="${LOGIN}" '$1 == login { print $2; exit }')
      [[ -n ${QUOTA} ]] && ATTRS="userdb_quota_rule=*:bytes=${QUOTA}${ATTRS:+ ${ATTRS}}"
    fi

    # Dovecot passwd-file: user:password:uid:gid:(gecos):home:(shell):extra_fields
    USERDB+="${LOGIN}:${PASS}:5000:5000::/var/mail/${DOMAIN}/${USER}/home::${ATTRS}"$'\n'
    VMAILBOX+="${LOGIN} ${DOMAIN}/${USER}/"$'\n'
    DOMAINS+="${DOMAIN}"$'\n'

    mkdir -p "/var/mail/${DOMAIN}/${USER}/home"
    chown 5000:5000 "/var/mail/${DOMAIN}" "/var/mail/${DOMAIN}/${USER}" "/var/mail/${DOMAIN}/${USER}/home"

    # DMS v15 target/scripts/helpers/accounts.sh (_create_accounts): the
    # config folder's <address>.dovecot.sieve is copied over the active script
    # on every regeneration; without it the home copy is left alone (DMS has
    # no else branch). DMS's `cp` runs as root and _chown_var_mail_if_necessary
    # chowns /var/mail only when something three levels deep is not 5000 (a
    # new home), so there a script new to an old home may stay root's; here it
    # is always the vmail user's, as the LMTP that compiles it runs as that.
    if [[ -f ${DMS_CONFIG_DIR}/${LOGIN}.dovecot.sieve ]]; then
      cp -- "${DMS_CONFIG_DIR}/${LOGIN}.dovecot.sieve" "/var/mail/${DOMAIN}/${USER}/home/.dovecot.sieve"
      chown 5000:5000 "/var/mail/${DOMAIN}/${USER}/home/.dovecot.sieve"
    fi
  done < <(_config_lines "${ACCOUNTS}")

  printf '%s' "${USERDB}" | _write_atomically /etc/dovecot/userdb
  # DMS: readable by Dovecot's auth process (it runs as user dovecot).
  chown dovecot:dovecot /etc/dovecot/userdb
  chmod 0640 /etc/dovecot/userdb
  printf '%s' "${VMAILBOX}" | _write_atomically /etc/postfix/vmailbox
  printf '%s' "${DOMAINS}"
}

# Regenerate every derived map from /tmp/docker-mailserver.
function _regenerate_config() {
  local DOMAINS

  DOMAINS=$(_regenerate_accounts)

  # Virtual aliases: domains of alias keys (`alias@domain` and `@domain`)
  # are virtual mailbox domains too.
  _config_lines "${DMS_CONFIG_DIR}/postfix-virtual.cf" | _write_atomically /etc/postfix/virtual
  DOMAINS+=$'\n'$(awk '$1 ~ /@/ { sub(/^[^@]*@/, "", $1); print $1 }' /etc/postfix/virtual)

  printf '%s\n' "${DOMAINS}" | sed '/^[[:space:]]*$/d' | sort -u | _write_atomically /etc/postfix/vhost

  # Like DMS: the pcre map is only listed while postfix-regexp.cf exists.
  if [[ -f ${DMS_CONFIG_DIR}/postfix-regexp.cf ]]; then
    sed -e 's/\r$//' -- "${DMS_CONFIG_DIR}/postfix-regexp.cf" | _write_atomically /etc/postfix/regexp
    _postconf_set virtual_alias_maps 'texthash:/etc/postfix/virtual pcre:/etc/postfix/regexp'
  else
    rm -f /etc/postfix/regexp
    _postconf_set virtual_alias_maps 'texthash:/etc/postfix/virtual'
  fi

  { echo 'postmaster: root'; _config_lines "${DMS_CONFIG_DIR}/postfix-aliases.cf"; } \
    | _write_atomically /etc/aliases
}

# Tell running daemons to pick up the new maps (no-op when they are down).
function _reload_services() {
  # `master -t` fails while a master holds its pid-file lock, i.e. runs.
  # (Cheaper and quieter than `postfix status`, which logs via postlog.)
  if ! /usr/lib/postfix/sbin/master -t 2>/dev/null; then
    postfix reload 2>&1 || _log 'warn' 'postfix reload failed'
  fi
  if doveadm reload >/dev/null 2>&1; then
    :
  else
    _log 'warn' 'doveadm reload failed (Dovecot not running?)'
  fi
}
