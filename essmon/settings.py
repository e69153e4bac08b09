"""Django settings for essmon. Every knob is an ``ESSMON_*`` variable; see docs/configuration.md."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from essmon.env import (
    email_settings_from_url,
    env_bool,
    env_int,
    env_list,
    env_path,
    env_str,
    private_directory,
)

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = env_path("ESSMON_DATA_DIR", Path.cwd() / "var")

# The database and its WAL, the secret key, the demo's sheets with gateway passwords:
# what essmon writes is the service's alone. Every essmon process loads these settings
# before it creates a file, and the children of `essmon serve` inherit the mask.
os.umask(0o077)
private_directory(DATA_DIR)

PRODUCTION = env_bool("ESSMON_PRODUCTION", False)
DEBUG = env_bool("ESSMON_DEBUG", False)


def _secret_key() -> str:
    key = env_str("ESSMON_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("ESSMON_SECRET_KEY must be set when ESSMON_PRODUCTION=1")
    # A development install keeps a generated key in its data directory so that
    # sessions and mailed links survive a restart.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ESSMON_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("ESSMON_CSRF_TRUSTED_ORIGINS", [])
BASE_URL = env_str("ESSMON_BASE_URL", f"http://127.0.0.1:{env_int('ESSMON_PORT', 8000)}")
if PRODUCTION and not env_str("ESSMON_BASE_URL"):
    from django.core.exceptions import ImproperlyConfigured

    # Mailed links (activation, password reset) are built from it; a local default
    # would send customers links to the server's own loopback address.
    raise ImproperlyConfigured("ESSMON_BASE_URL must be set when ESSMON_PRODUCTION=1")
BASE_URL = BASE_URL.rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "essmon.core",
    "essmon.accounts",
    "essmon.gateways",
    "essmon.notifications",
    "essmon.dealers",
    "essmon.telemetry",
    "essmon.commands",
    "essmon.mqtt",
    "essmon.monitoring",
    "essmon.warranty",
    "essmon.alerts",
    "essmon.transfers",
    "essmon.privacy",
    "essmon.support",
    "essmon.api",
    # django-ninja's own templates and static files: the API reference page (Swagger UI)
    # served from here, never from a CDN (docs/api.md)
    "ninja",
    "essmon.webhooks",
    # above every other app: registers itself with `serve` (essmon/core/serving.py)
    "essmon.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # below WhiteNoise: static files are answered above and keep their long-lived caching
    "essmon.core.middleware.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # above the browser's middleware: the gateways' API skips it (essmon/telemetry/middleware.py)
    "essmon.telemetry.middleware.GatewayProtocolMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # below auth and htmx: it reads request.user and answers htmx requests in their way
    "essmon.accounts.middleware.TermsAgreementMiddleware",
]

ROOT_URLCONF = "essmon.urls"
WSGI_APPLICATION = "essmon.wsgi.application"

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
                "essmon.core.contact.context",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'essmon.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("ESSMON_DATABASE_URL", _default_db) or _default_db, conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the single writer; IMMEDIATE takes the write
        # lock at BEGIN so two writers queue instead of failing mid-transaction.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

# Read replicas (docs/scaling.md, "Read replicas"): PostgreSQL streaming replicas of the
# primary above, read by the monitoring site's pages that opt in (essmon/core/replicas.py).
# Empty: one database, as before.
DATABASE_REPLICA_URLS = env_list("ESSMON_DATABASE_REPLICA_URLS", [])
DATABASE_REPLICA_MAX_LAG_SECONDS = env_int("ESSMON_DATABASE_REPLICA_MAX_LAG_SECONDS", 10)
DATABASE_REPLICA_CHECK_SECONDS = env_int("ESSMON_DATABASE_REPLICA_CHECK_SECONDS", 5)
if DATABASE_REPLICA_URLS and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "ESSMON_DATABASE_REPLICA_URLS needs PostgreSQL as ESSMON_DATABASE_URL"
    )
if DATABASE_REPLICA_MAX_LAG_SECONDS < 1 or DATABASE_REPLICA_CHECK_SECONDS < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "ESSMON_DATABASE_REPLICA_MAX_LAG_SECONDS and ESSMON_DATABASE_REPLICA_CHECK_SECONDS "
        "must be at least 1"
    )
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _replica = dj_database_url.parse(_url, conn_max_age=60)
    if _replica["ENGINE"] != "django.db.backends.postgresql":
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("ESSMON_DATABASE_REPLICA_URLS: PostgreSQL URLs only")
    # a replica that does not answer must cost a request little: it is then left for the
    # primary (essmon/core/replicas.py)
    _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    # the replica is the primary's database as it streams in: tests read it as that
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_number}"] = _replica
DATABASE_ROUTERS = ["essmon.core.replicas.ReplicaRouter"] if DATABASE_REPLICA_URLS else []

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["essmon.accounts.backends.LimitedEmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:menu"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The product's rule (8-16 characters, lowercase, uppercase and digits) and two more; each
# states itself in the password fields' help text and refuses with its own message.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "essmon.accounts.validators.PasswordLengthValidator",
        "OPTIONS": {"min_length": 8, "max_length": 16},
    },
    {"NAME": "essmon.accounts.validators.PasswordCharacterClassesValidator"},
    {"NAME": "essmon.accounts.validators.PasswordCharacterSetValidator"},
    {
        "NAME": "essmon.accounts.validators.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["email"]},
    },
    {"NAME": "essmon.accounts.validators.CommonPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

LANGUAGE_CODE = "ja"
TIME_ZONE = env_str("ESSMON_TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
# files browsers ask for at the site's root (/favicon.ico), served by WhiteNoise as they are
WHITENOISE_ROOT = BASE_DIR / "public"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Scripts and styles only from our own static files: no inline script, style or eval
# (docs/architecture.md, "Response headers").
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("ESSMON_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("ESSMON_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Mail: every message goes through notifications.OutboxMessage first.
EMAIL_URL = env_str("ESSMON_EMAIL_URL", "console://")
globals().update(email_settings_from_url(EMAIL_URL))
DEFAULT_FROM_EMAIL = env_str(
    "ESSMON_FROM_EMAIL", "遠隔モニタリングサービス <no-reply@essmon.invalid>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The support contact (お問い合わせ窓口) in the footer, the manual, the error pages and
# every mail. The defaults are a demo's, plainly fictitious; `check --deploy` warns while
# a production site still shows them (docs/configuration.md).
SUPPORT_NAME = env_str(
    "ESSMON_SUPPORT_NAME", "遠隔モニタリングサービス お問い合わせ窓口(デモ・架空)"
)
SUPPORT_PHONE = env_str("ESSMON_SUPPORT_PHONE", "000-000-0000")
SUPPORT_HOURS = env_str("ESSMON_SUPPORT_HOURS", "デモ: 平日 9:00〜17:00")
SUPPORT_URL = env_str("ESSMON_SUPPORT_URL", "https://support.essmon.example/")
SUPPORT_EMAIL = env_str("ESSMON_SUPPORT_EMAIL", "")
OUTBOX_MAX_ATTEMPTS = env_int("ESSMON_OUTBOX_MAX_ATTEMPTS", 12)
OUTBOX_RETRY_BASE_SECONDS = env_int("ESSMON_OUTBOX_RETRY_BASE_SECONDS", 30)

TASKS = {
    "default": {
        "BACKEND": env_str("ESSMON_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Registration rules (the product's: the provisional link is valid for about a week).
ACTIVATION_DAYS = env_int("ESSMON_ACTIVATION_DAYS", 7)
EMAIL_CHANGE_HOURS = env_int("ESSMON_EMAIL_CHANGE_HOURS", 24)
GATEWAY_PASSWORD_FAILURES_PER_HOUR = env_int("ESSMON_GATEWAY_PASSWORD_FAILURES_PER_HOUR", 10)
# Per client address the limit must let a whole apartment block, office or carrier NAT
# register behind one address: more tries, a shorter window (docs/configuration.md).
GATEWAY_PASSWORD_FAILURES_PER_ADDRESS = env_int("ESSMON_GATEWAY_PASSWORD_FAILURES_PER_ADDRESS", 50)
GATEWAY_PASSWORD_ADDRESS_WINDOW_MINUTES = env_int(
    "ESSMON_GATEWAY_PASSWORD_ADDRESS_WINDOW_MINUTES", 10
)
LOGIN_FAILURES_PER_ACCOUNT = env_int("ESSMON_LOGIN_FAILURES_PER_ACCOUNT", 10)
LOGIN_FAILURES_PER_ADDRESS_PER_HOUR = env_int("ESSMON_LOGIN_FAILURES_PER_ADDRESS_PER_HOUR", 50)
# A lock lifts by itself after this, an account's as an unknown ID's (so that waiting does
# not tell them apart); the mailed unlock link or a password reset is the quick way back.
LOGIN_LOCK_HOURS = env_int("ESSMON_LOGIN_LOCK_HOURS", 24)
# Mails to an address someone typed (registration, password reset, mail change, 保守担当者):
# per recipient address a day, per client address (and per account) an hour.
MAIL_REQUESTS_PER_RECIPIENT_PER_DAY = env_int("ESSMON_MAIL_REQUESTS_PER_RECIPIENT_PER_DAY", 5)
MAIL_REQUESTS_PER_CLIENT_PER_HOUR = env_int("ESSMON_MAIL_REQUESTS_PER_CLIENT_PER_HOUR", 30)
# 保守紐付け: each link mails the dealer (and its unlink will): per dealer a day, and per
# customer and dealer a day (docs/configuration.md)
DEALER_LINKS_PER_DEALER_PER_DAY = env_int("ESSMON_DEALER_LINKS_PER_DEALER_PER_DAY", 50)
DEALER_LINKS_PER_CUSTOMER_AND_DEALER_PER_DAY = env_int(
    "ESSMON_DEALER_LINKS_PER_CUSTOMER_AND_DEALER_PER_DAY", 3
)
# The public API v1 (docs/api.md): requests per token a minute; failed token checks per
# client address an hour (the same rule on every path); tokens a person may make a day.
API_REQUESTS_PER_MINUTE = env_int("ESSMON_API_REQUESTS_PER_MINUTE", 120)
# and per person, all of its tokens together: a person may hold 20 tokens, which would
# otherwise be 20 allowances
API_REQUESTS_PER_USER_PER_MINUTE = env_int("ESSMON_API_REQUESTS_PER_USER_PER_MINUTE", 240)
API_AUTH_FAILURES_PER_ADDRESS_PER_HOUR = env_int(
    "ESSMON_API_AUTH_FAILURES_PER_ADDRESS_PER_HOUR", 50
)
API_TOKENS_PER_USER_PER_DAY = env_int("ESSMON_API_TOKENS_PER_USER_PER_DAY", 20)
# 名義変更 (docs/transfers.md): how many days a transfer code can be claimed.
TRANSFER_CODE_DAYS = env_int("ESSMON_TRANSFER_CODE_DAYS", 30)
ACTIVATION_PHONE_FAILURES = env_int("ESSMON_ACTIVATION_PHONE_FAILURES", 5)
# A gateway silent for longer than this is offline (its connectivity interval closes).
OFFLINE_AFTER_MINUTES = env_int("ESSMON_OFFLINE_AFTER_MINUTES", 10)
# Warranty (docs/warranty.md): the extension lapses once a gateway is offline longer than this
# many days in a row; the owner and linked dealers are mailed at these days offline ("" = off).
WARRANTY_LAPSE_DAYS = env_int("ESSMON_WARRANTY_LAPSE_DAYS", 30)
WARRANTY_WARN_DAYS = env_str("ESSMON_WARRANTY_WARN_DAYS", "7,21")
# Alerts (docs/alerts.md): a claimed gateway silent this long gets an offline alert; an
# alert closes once its condition has been gone this long (so flapping mails nobody twice);
# the check runs this often.
ALERT_OFFLINE_SECONDS = env_int("ESSMON_ALERT_OFFLINE_SECONDS", 15 * 60)
ALERT_RECOVERY_SECONDS = env_int("ESSMON_ALERT_RECOVERY_SECONDS", 5 * 60)
# While an offline alert recovers, a silence longer than this breaks the recovery off
# (gateways report at least every minute).
ALERT_RECOVERY_GAP_SECONDS = env_int("ESSMON_ALERT_RECOVERY_GAP_SECONDS", 120)
ALERT_CHECK_SECONDS = env_int("ESSMON_ALERT_CHECK_SECONDS", 60)
ALERT_BATTERY_TEMP_C = env_int("ESSMON_ALERT_BATTERY_TEMP_C", 50)
ALERT_SOC_STUCK_HOURS = env_int("ESSMON_ALERT_SOC_STUCK_HOURS", 6)
# Raw samples are kept this many whole months (plus the current one) and then dropped, a
# month at a time; the energy rollups made from them are kept for good.
RAW_RETENTION_MONTHS = env_int("ESSMON_RAW_RETENTION_MONTHS", 24)
# On PostgreSQL, monthly sample partitions are made this many months ahead of the current one.
SAMPLE_PARTITIONS_AHEAD = env_int("ESSMON_SAMPLE_PARTITIONS_AHEAD", 3)
if RAW_RETENTION_MONTHS < 1 or SAMPLE_PARTITIONS_AHEAD < 1:
    from django.core.exceptions import ImproperlyConfigured

    # ahead >= 1: the ingest accepts samples up to a day ahead, into next month at its end
    raise ImproperlyConfigured(
        "ESSMON_RAW_RETENTION_MONTHS and ESSMON_SAMPLE_PARTITIONS_AHEAD must be at least 1"
    )
# Gateways long-polling for commands over HTTPS, at most this many per web process at once
# (each holds a web thread); past it a poll is answered at once.
LONG_POLLS_PER_PROCESS = env_int("ESSMON_LONG_POLLS_PER_PROCESS", 4)
# MQTT (docs/deployment.md): empty = HTTPS only. mqtt://user:password@host:port, or mqtts://
MQTT_URL = env_str("ESSMON_MQTT_URL", "")
MQTT_SHARE_GROUP = env_str("ESSMON_MQTT_SHARE_GROUP", "essmon-ingest")
# The password and ACL files of the broker's gateway listener, which essmon keeps in step
# with the gateway registry, and the broker's pid file to signal (SIGHUP) after a change;
# empty = not managed by essmon.
MQTT_PASSWORD_FILE = env_str("ESSMON_MQTT_PASSWORD_FILE", "")
MQTT_ACL_FILE = env_str("ESSMON_MQTT_ACL_FILE", "")
# the same for the service listener (essmon's own user); empty: beside the gateways' files
MQTT_SERVICE_PASSWORD_FILE = env_str("ESSMON_MQTT_SERVICE_PASSWORD_FILE", "")
MQTT_SERVICE_ACL_FILE = env_str("ESSMON_MQTT_SERVICE_ACL_FILE", "")
MQTT_BROKER_PID_FILE = env_str("ESSMON_MQTT_BROKER_PID_FILE", "")
# Gateways' X.509 client certificates (docs/deployment.md, "Certificates instead of
# passwords"): the folder of essmon's small CA (its key, mode 600, never leaves it), how
# long a gateway's certificate is valid, and where the CRL the broker reads is written
# (empty: crl.pem in the CA's folder).
GATEWAY_CA_DIR = env_path("ESSMON_GATEWAY_CA_DIR", DATA_DIR / "gateway-ca")
GATEWAY_CERT_DAYS = env_int("ESSMON_GATEWAY_CERT_DAYS", 3650)
MQTT_CRL_FILE = env_str("ESSMON_MQTT_CRL_FILE", "")
# Dead letters (messages MQTT could not use) kept per gateway per clock hour, the rest only
# counted, and how long they are kept: one gateway's junk must not fill the disk.
DEAD_LETTERS_PER_GATEWAY_PER_HOUR = env_int("ESSMON_DEAD_LETTERS_PER_GATEWAY_PER_HOUR", 20)
DEAD_LETTER_RETENTION_DAYS = env_int("ESSMON_DEAD_LETTER_RETENTION_DAYS", 30)
# How long the records of giving a customer's data to a dealer (APPI art. 29) are kept after
# the last provision, once the customer has left: the PPC rules' period (施行規則第21条).
PROVISION_RECORD_YEARS = env_int("ESSMON_PROVISION_RECORD_YEARS", 3)
if PROVISION_RECORD_YEARS < 3:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "ESSMON_PROVISION_RECORD_YEARS must be at least 3, the period the PPC rules require"
    )
# 販売店様による閲覧・変更の記録: kept this long after a row's last time, then purged.
DEALER_RECORD_RETENTION_DAYS = env_int("ESSMON_DEALER_RECORD_RETENTION_DAYS", 1095)
if DEALER_RECORD_RETENTION_DAYS < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("ESSMON_DEALER_RECORD_RETENTION_DAYS must be at least 1")
# Webhooks (docs/webhooks.md): hosts exempt from the address rules (http and private
# addresses allowed: tests, development), the wait for an answer, the pause after failing
# throughout, how long the delivery log is kept.
WEBHOOK_ALLOW_HOSTS = env_list("ESSMON_WEBHOOK_ALLOW_HOSTS", [])
WEBHOOK_TIMEOUT_SECONDS = env_int("ESSMON_WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_PAUSE_AFTER_HOURS = env_int("ESSMON_WEBHOOK_PAUSE_AFTER_HOURS", 72)
WEBHOOK_LOG_RETENTION_DAYS = env_int("ESSMON_WEBHOOK_LOG_RETENTION_DAYS", 30)
if min(WEBHOOK_TIMEOUT_SECONDS, WEBHOOK_PAUSE_AFTER_HOURS, WEBHOOK_LOG_RETENTION_DAYS) < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "ESSMON_WEBHOOK_TIMEOUT_SECONDS, ESSMON_WEBHOOK_PAUSE_AFTER_HOURS and "
        "ESSMON_WEBHOOK_LOG_RETENTION_DAYS must be at least 1"
    )
# How many reverse proxies in front of essmon append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env_int("ESSMON_TRUSTED_PROXY_COUNT", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"tokens": {"()": "essmon.core.redact.TokenPathFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["tokens"]}
    },
    "root": {"handlers": ["console"], "level": env_str("ESSMON_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SILENCED_SYSTEM_CHECKS: list[str] = []
