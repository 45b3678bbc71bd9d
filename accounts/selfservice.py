"""Mail users serving themselves: sign in with the mailbox password, change it, set up a client.

A mail user is not a Django user and never reaches an admin page. The session holds only the
verified address and a keyed fingerprint of the hash it was verified against; every request
re-reads the hash, so a password changed by an admin (or a deleted mailbox) ends the session.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hmac
import plistlib
import secrets
import uuid
import xml.etree.ElementTree as ET

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.crypto import constant_time_compare, salted_hmac
from passlib.exc import PasswordValueError
from passlib.hash import bcrypt, ldap_salted_sha512, sha256_crypt, sha512_crypt

from access.throttle import login_failed, login_lock, login_succeeded
from accounts import services
from accounts.files import Account, parse_accounts
from accounts.validation import normalize_address
from dms_admin.audit import Actor, audit_record
from dms_admin.configstore import get_store
from dms_admin.errors import FieldError
from dms_admin.models import AuditEntry

SESSION_ADDRESS = "mail_user"
SESSION_FINGERPRINT = "mail_user_fp"
WRONG_MESSAGE = "Wrong address or password."
UNSUPPORTED_MESSAGE = (
    "The password of this mailbox is stored in a scheme the panel cannot check (unsupported scheme): ask your admin."
)
AUTODISCOVER_MAX_BYTES = 10 * 1024


# ---- checking a password against a postfix-accounts.cf hash (spec §1.3) -----------------------


class Check(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    UNSUPPORTED = "unsupported"


# Dovecot's *-CRYPT schemes all hand the hash to crypt(3), which picks the algorithm from its
# `$id$`; a bare hash is SHA512-CRYPT, DMS's default scheme.
_CRYPT_SCHEMES = {"SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT"}
_CRYPT_IDS = {"$6$": sha512_crypt, "$5$": sha256_crypt, "$2a$": bcrypt, "$2b$": bcrypt, "$2y$": bcrypt}


def _split_scheme(password_hash: str) -> tuple[str, str]:
    if password_hash.startswith("{") and "}" in password_hash:
        scheme, _, value = password_hash[1:].partition("}")
        return scheme.upper(), value
    return "SHA512-CRYPT", password_hash


def password_check(password: str, password_hash: str) -> Check:
    scheme, value = _split_scheme(password_hash)
    try:
        if scheme in ("PLAIN", "CLEARTEXT"):
            ok = hmac.compare_digest(password.encode(), value.encode())
        elif scheme == "SSHA512":
            ok = ldap_salted_sha512.verify(password, "{SSHA512}" + value)
        elif scheme in _CRYPT_SCHEMES:
            handler = next((h for ident, h in _CRYPT_IDS.items() if value.startswith(ident)), None)
            # bcrypt needs a package of its own (passlib's pure-Python one is off by default).
            if handler is None or not handler.has_backend():
                return Check.UNSUPPORTED
            ok = handler.verify(password, value)
        else:
            return Check.UNSUPPORTED
    except PasswordValueError:  # a NUL byte or an absurd length: no hash matches it
        return Check.WRONG
    except ValueError:  # a malformed hash
        return Check.UNSUPPORTED
    return Check.OK if ok else Check.WRONG


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    # Checked for unknown addresses, so an answer takes as long whether or not the mailbox exists.
    return sha512_crypt.using(rounds=rounds).hash(secrets.token_urlsafe(24))


def _account(address: str) -> Account | None:
    accounts = parse_accounts(get_store().read(services.ACCOUNTS))
    return next((a for a in accounts.entries() if a.address.lower() == address), None)


def hash_fingerprint(password_hash: str) -> str:
    # Keyed, so the session store holds nothing that could be attacked offline.
    return salted_hmac("dms-admin.selfservice.hash", password_hash).hexdigest()


# ---- signing in and out -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MailLogin:
    address: str = ""  # empty: refused
    fingerprint: str = ""
    error: str = ""


def mail_login(*, address: str, password: str, ip: str | None) -> MailLogin:
    """Verify a mail user's address and password; every refusal reads the same unless locked."""
    try:
        address, valid = normalize_address(address), True
    except FieldError:
        address, valid = address.strip().lower(), False
    key = f"mail:{address}"
    if lock := login_lock(username=key, ip=ip):
        return MailLogin(error=lock.message)
    account = _account(address) if valid else None
    check = password_check(password, account.password_hash if account else _dummy_hash(settings.DMS_PASSWORD_ROUNDS))
    if account is None or check is not Check.OK:
        login_failed(username=key, ip=ip)
        wrong = account is None or check is Check.WRONG
        return MailLogin(error=WRONG_MESSAGE if wrong else UNSUPPORTED_MESSAGE)
    login_succeeded(username=key, ip=ip)
    audit_record(actor=Actor(name=address, via=AuditEntry.Via.PANEL, ip=ip), action="self.login", object=address)
    return MailLogin(address=address, fingerprint=hash_fingerprint(account.password_hash))


def session_start(request: HttpRequest, login: MailLogin) -> None:
    request.session.cycle_key()
    request.session[SESSION_ADDRESS] = login.address
    request.session[SESSION_FINGERPRINT] = login.fingerprint


def session_user(request: HttpRequest) -> str | None:
    """The signed-in mail user's address, while the hash they signed in with is still theirs."""
    address = request.session.get(SESSION_ADDRESS)
    fingerprint = request.session.get(SESSION_FINGERPRINT)
    if not isinstance(address, str) or not isinstance(fingerprint, str):
        return None
    account = _account(address)
    if account is None or not constant_time_compare(fingerprint, hash_fingerprint(account.password_hash)):
        session_end(request)
        return None
    return address


def session_end(request: HttpRequest) -> None:
    had = SESSION_ADDRESS in request.session
    for key in (SESSION_ADDRESS, SESSION_FINGERPRINT):
        request.session.pop(key, None)
    # An admin signed in in the same browser stays signed in.
    if not request.session.keys():
        request.session.flush()
    elif had:
        request.session.cycle_key()


# ---- changing one's own password ---------------------------------------------------------------


def self_password_change(*, address: str, old_password: str, new_password: str, ip: str | None) -> services.Saved:
    """Only ever for the signed-in address; the old password is checked (and throttled) again."""
    key = f"mail:{address}"
    if lock := login_lock(username=key, ip=ip):
        raise FieldError("old_password", lock.message)
    account = _account(address)
    if account is None or password_check(old_password, account.password_hash) is not Check.OK:
        login_failed(username=key, ip=ip)
        raise FieldError("old_password", "That is not your current password.")
    actor = Actor(name=address, via=AuditEntry.Via.PANEL, ip=ip)
    return services.mailbox_set_password(address=address, password=new_password, actor=actor)


def session_refresh(request: HttpRequest, address: str) -> None:
    """After the user's own change: keep them signed in with the new hash, under a new key."""
    account = _account(address)
    if account is None:
        session_end(request)
        return
    session_start(request, MailLogin(address=address, fingerprint=hash_fingerprint(account.password_hash)))


# ---- client settings: the page, Thunderbird autoconfig, Outlook autodiscover, Apple profile -------


@dataclasses.dataclass(frozen=True)
class Endpoint:
    protocol: str  # IMAP or SMTP
    port: int
    security: str  # SSL/TLS (implicit) or STARTTLS

    @property
    def socket_type(self) -> str:  # Thunderbird's name for it
        return "SSL" if self.security == "SSL/TLS" else "STARTTLS"


# Every way in is encrypted; port 25 is for servers, not clients (FAQ "configure my email client").
ENDPOINTS = (
    Endpoint("IMAP", 993, "SSL/TLS"),
    Endpoint("IMAP", 143, "STARTTLS"),
    Endpoint("SMTP", 465, "SSL/TLS"),
    Endpoint("SMTP", 587, "STARTTLS"),
)


def autoconfig_xml(*, hostname: str, domain: str) -> str:
    return render_to_string(
        "accounts/self_autoconfig.xml", {"hostname": hostname, "domain": domain, "endpoints": ENDPOINTS}
    )


class _NoDoctype(ET.TreeBuilder):
    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise ValueError("DOCTYPE and entity declarations are not accepted.")


def autodiscover_address(body: bytes) -> str:
    """The EMailAddress of an Outlook autodiscover request; ValueError for anything else."""
    if len(body) > AUTODISCOVER_MAX_BYTES:
        raise ValueError("The request is too large.")
    try:
        text = body.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise ValueError("The request is not UTF-8.") from None
    # Entities can only be declared in a DOCTYPE, so refusing it rules out entity expansion and
    # external entities. The text check gives a clear answer; the parser's own check is the one
    # that counts: expat still guesses UTF-16 from NUL bytes, which would hide a DOCTYPE from it.
    upper = text.upper()
    if "\x00" in text or "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ValueError("DOCTYPE and entity declarations are not accepted.")
    parser = ET.XMLParser(target=_NoDoctype())  # noqa: S314 - DOCTYPE refused by the target
    try:
        parser.feed(text)
        root = parser.close()
    except ET.ParseError:
        raise ValueError("The request is not well-formed XML.") from None
    found = next((e for e in root.iter() if str(e.tag).rpartition("}")[2] == "EMailAddress"), None)
    if found is None or not found.text:
        raise ValueError("The request has no EMailAddress.")
    return normalize_address(found.text)


def autodiscover_xml(*, hostname: str, address: str) -> str:
    return render_to_string("accounts/self_autodiscover.xml", {"hostname": hostname, "address": address})


def apple_profile(*, hostname: str, address: str) -> bytes:
    """An unsigned .mobileconfig with one IMAP account; the device asks for the password."""
    reverse = ".".join(reversed(hostname.split(".")))
    account_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"imap://{address}@{hostname}")).upper()
    profile_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mobileconfig://{address}@{hostname}")).upper()
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.mail.{account_uuid}",
        "PayloadUUID": account_uuid,
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": hostname,
        "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": hostname,
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.profile.{profile_uuid}",
        "PayloadUUID": profile_uuid,
        "PayloadDisplayName": f"Mail: {address}",
        "PayloadDescription": f"The mail account {address} on {hostname}.",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [account],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
