"""Settings for dms-admin.

Every environment read lives in this file. Secrets may come from `NAME` or from a file named by
`NAME_FILE` (Docker secrets). DEBUG is off unless asked for, and outside DEBUG the process
refuses to start without a SECRET_KEY.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import global_settings
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str = "0") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1, got {value!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def envpaths(name: str, default: str) -> list[Path]:
    """A comma-separated list of absolute paths; a relative or empty entry is refused."""
    raw = os.environ.get(name, default)
    paths = [Path(item.strip()) for item in raw.split(",") if item.strip()]
    if not paths or not all(p.is_absolute() for p in paths):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of absolute paths, got {raw!r}")
    return paths


def envsecret(name: str, default: str = "") -> str:
    """`NAME`, or the contents of the file named by `NAME_FILE` (trailing newline stripped)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from None
    return default


def trusted_proxies(value: str) -> list[str]:
    entries = [e.strip() for e in value.split(",") if e.strip()]
    for entry in entries:
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {entry!r} is not an address or network") from None
    return entries


def language_code(name: str, default: str) -> str:
    """A language Django knows (`de`, `pt-br`, `en-us`: a region of a known language is fine)."""
    raw = os.environ.get(name, "").strip() or default
    code = raw.lower()
    known = dict(global_settings.LANGUAGES)
    if not re.fullmatch(r"[a-z]{1,8}(-[a-z0-9]{1,8})*", code) or not (code in known or code.split("-")[0] in known):
        raise ImproperlyConfigured(
            f"{name} must be a language code Django knows, such as en-us, de, fr or pt-br, got {raw!r}"
        )
    return code


def panel_languages(code: str, locale_dir: Path) -> list[tuple[str, str]]:
    """LANGUAGE_CODE plus every language with a compiled catalog in `locale/`, and no other.

    LocaleMiddleware picks the browser's language only among these, so a browser asking for German
    gets the panel's own language until a German catalog exists: never a page half in Django's
    German (its form errors) and half in English.
    """
    known = dict(global_settings.LANGUAGES)
    codes = [code]
    if locale_dir.is_dir():
        for folder in sorted(locale_dir.iterdir()):
            other = folder.name.lower().replace("_", "-")
            if (folder / "LC_MESSAGES" / "django.mo").is_file() and other in known and other not in codes:
                codes.append(other)
    return [(c, known.get(c) or known[c.split("-")[0]]) for c in codes]


def database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
        }
    if parsed.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parsed.path)}
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")


DEBUG = envbool("DEBUG")
SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or SECRET_KEY_FILE); it is required unless DEBUG=1.")
    SECRET_KEY = "insecure-debug-only-key"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

# Where dms-admin keeps its own data (SQLite database by default).
DATA_DIR = Path(env("DMS_ADMIN_DATA_DIR", str(BASE_DIR / "var"))).expanduser()

# The DMS config folder (mounted read-write; the mail container sees it at /tmp/docker-mailserver).
DMS_CONFIG_DIR = Path(env("DMS_CONFIG_DIR", str(DATA_DIR / "dms-config"))).expanduser()
# The version history of that folder: a git repository in a hidden `.dms-admin/` folder inside it
# by default, so every process sharing the config volume (web, API, workers) shares history and
# lock with no extra volume. DMS ignores names it does not know.
DMS_HISTORY_DIR = Path(env("DMS_HISTORY_DIR", str(DMS_CONFIG_DIR / ".dms-admin" / "history.git"))).expanduser()
DMS_MAIL_DIR = Path(env("DMS_MAIL_DIR", "/var/mail"))
DMS_STATE_DIR = Path(env("DMS_STATE_DIR", "/var/mail-state"))
# Backup policies may only write inside these folders (symlinks and `..` resolved), and never into
# the data, config, mail or state folders or a system folder: a destination is where dms-admin
# writes files, so /etc/cron.d or its own database folder must not be one.
BACKUP_ROOTS = envpaths("BACKUP_ROOTS", "/backups")

# How to find the mail container: by name, or by a label (`key=value`) when the name varies.
DMS_CONTAINER_NAME = env("DMS_CONTAINER_NAME", "mailserver")
DMS_CONTAINER_LABEL = env("DMS_CONTAINER_LABEL")
DOCKER_HOST = env("DOCKER_HOST")  # empty: the docker SDK's defaults (unix socket)
DOCKER_TIMEOUT = envint("DOCKER_TIMEOUT", 30)
# The mail server's public name (the MX target, what clients connect to). Empty: OVERRIDE_HOSTNAME
# from mailserver.env, else the mail container's hostname.
DMS_MAIL_HOSTNAME = env("DMS_MAIL_HOSTNAME")
# The DNS server the domain check asks: empty for the system resolver (/etc/resolv.conf), or
# `ip[:port]` (IPv6 as `[ip]:port`), e.g. a resolver that sees the public zone, not a split-horizon one.
DNS_RESOLVER = env("DNS_RESOLVER")
# How long an apply may wait for the container to come back healthy.
DMS_APPLY_HEALTH_TIMEOUT = envint("DMS_APPLY_HEALTH_TIMEOUT", 180)
# How long to wait for DMS's change detector to pick up a watched file.
DMS_WATCH_TIMEOUT = envint("DMS_WATCH_TIMEOUT", 30)

# The longest a spam training run (sa-learn inside the mail container) may take, in seconds.
SPAM_TRAIN_TIMEOUT = envint("SPAM_TRAIN_TIMEOUT", 3600)
# Rspamd recounts its Bayes numbers only every 30-60 s: how long a training waits to record them.
SPAM_RSPAMD_STAT_WAIT = envint("SPAM_RSPAMD_STAT_WAIT", 75)

# Mailbox passwords: SHA512-CRYPT with this many rounds (5000, like `doveadm pw`, writes no
# rounds= field); the shortest password accepted.
DMS_PASSWORD_ROUNDS = envint("DMS_PASSWORD_ROUNDS", 5000)
DMS_MAILBOX_PASSWORD_MIN_LENGTH = envint("DMS_MAILBOX_PASSWORD_MIN_LENGTH", 8)

# Bearer token for Prometheus to read /metrics; empty turns /metrics off.
METRICS_TOKEN = envsecret("METRICS_TOKEN")

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")

# Audit rows of API reads and refused calls are kept this many days (changes are kept for good).
AUDIT_API_CALL_DAYS = envint("AUDIT_API_CALL_DAYS", 90)
# Sign-in throttling (dms_admin/throttle.py), per (username, client address): this many failures
# within the window are free, then each further one holds that pair 2, 4, 8 … s, at most
# LOGIN_LOCK_MAX. One address failing LOGIN_ADDRESS_MAX_FAILURES times across usernames is held
# likewise. The window outlasts the cap, so a patient guesser stays at the cap.
LOGIN_MAX_FAILURES = envint("LOGIN_MAX_FAILURES", 5)
LOGIN_FAILURE_WINDOW = envint("LOGIN_FAILURE_WINDOW", 3600)
LOGIN_LOCK_MAX = envint("LOGIN_LOCK_MAX", 900)
LOGIN_ADDRESS_MAX_FAILURES = envint("LOGIN_ADDRESS_MAX_FAILURES", 4 * LOGIN_MAX_FAILURES)
# Every admin must sign in with a TOTP code too; those without one set it up at their next sign-in.
REQUIRE_2FA = envbool("REQUIRE_2FA")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "dms_admin",
    "access",
    "accounts",
    "spam",
    "backups",
    "mailrules",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dms_admin.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from gunicorn itself, no CDN
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session, before CommonMiddleware (Django's order): picks the request's language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "access.middleware.PanelLoginRequiredMiddleware",
    "access.roles.RoleMiddleware",
    "access.middleware.ApiCallAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dms_admin.urls"
WSGI_APPLICATION = "dms_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dms_admin.context_processors.pending_changes",
            ],
        },
    },
]

DATABASE_URL = envsecret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Web, workers and cron share the file: wait for a lock rather than fail. WAL lets
            # readers run beside a writer, and a commit costs no fsync of the whole database.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# The panel's language (English is complete; others need a catalog in locale/, see its README).
LANGUAGE_CODE = language_code("LANGUAGE_CODE", "en-us")
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGES = panel_languages(LANGUAGE_CODE, LOCALE_PATHS[0])
TIME_ZONE = env("TZ", "UTC") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Cookies and headers: safe defaults; TLS-only cookies and HSTS when served behind TLS.
BEHIND_TLS = envbool("BEHIND_TLS")
# The reverse proxy's address(es) or networks: only from these, and only with BEHIND_TLS, is the
# client address taken from X-Forwarded-For (dms_admin.audit.client_ip); "*" trusts any peer.
# The same variable gunicorn reads for X-Forwarded-Proto.
TRUSTED_PROXIES = trusted_proxies(env("FORWARDED_ALLOW_IPS", "127.0.0.1"))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = BEHIND_TLS
CSRF_COOKIE_SECURE = BEHIND_TLS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS else None
SECURE_HSTS_SECONDS = 31536000 if BEHIND_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = BEHIND_TLS
# Preloading is a promise about the whole domain that is hard to take back: the admin decides.
SECURE_HSTS_PRELOAD = BEHIND_TLS and envbool("HSTS_PRELOAD")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_SSL_REDIRECT = BEHIND_TLS and envbool("SECURE_SSL_REDIRECT", "1")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
    "backups": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 6 * 3600},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.api_auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the panel's session, CSRF checked
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.api_auth.ApiAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, with a size (DATA_UPLOAD_MAX_MEMORY_SIZE) and a depth limit answered in JSON.
    "DEFAULT_PARSER_CLASSES": ["dms_admin.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "dms_admin.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dms_admin.api.errors.handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# The OpenAPI schema (/api/v1/schema/) and its docs page (/api/v1/docs/) need a panel session or
# a token unless this is 1: the schema maps every endpoint, which is an attacker's to-do list.
API_DOCS_PUBLIC = envbool("API_DOCS_PUBLIC")
SPECTACULAR_SETTINGS = {
    "TITLE": "dms-admin API",
    "DESCRIPTION": "Manage a docker-mailserver: mailboxes, aliases, settings, history, jobs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # no CDN: the panel works offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dms_admin.api.schema.add_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": env("LOG_LEVEL", "INFO").upper()},
}
