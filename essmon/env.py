"""Typed readers for the ``ESSMON_*`` environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def private_directory(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (created so if missing).

    An existing directory of ours with wider rights is narrowed, which also closes off
    files written there before essmon kept its files private (a world-readable
    database). A shared directory (sticky, like /tmp) or someone else's is left alone.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat()
    if mode.st_mode & 0o077 and mode.st_uid == os.getuid() and not mode.st_mode & stat.S_ISVTX:
        path.chmod(0o700)
    return path


def email_settings_from_url(url: str) -> dict[str, object]:
    """Translate ``ESSMON_EMAIL_URL`` into Django ``EMAIL_*`` settings.

    Supported: ``console://``, ``file:///dir``, ``smtp://[user:pass@]host:port``
    (``?starttls=1`` for STARTTLS), ``smtps://...`` (implicit TLS), ``locmem://`` (tests).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme == "file":
        if not parts.path:
            raise ImproperlyConfigured(f"ESSMON_EMAIL_URL={url!r}: file:// needs a directory path")
        if parts.netloc not in ("", "localhost"):
            # file://var/mail would read as host "var", path "/mail"
            raise ImproperlyConfigured(
                f"ESSMON_EMAIL_URL={url!r}: write an absolute path after three slashes, "
                "e.g. file:///var/lib/essmon/mail"
            )
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if scheme in {"smtp", "smtps"}:
        if not parts.hostname:
            raise ImproperlyConfigured(f"ESSMON_EMAIL_URL={url!r}: smtp needs a host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "0").lower() in TRUE_WORDS
        try:
            port = parts.port
        except ValueError as exc:
            raise ImproperlyConfigured(f"ESSMON_EMAIL_URL={url!r}: bad port") from exc
        try:
            timeout = int(query.get("timeout", "10"))
        except ValueError as exc:
            raise ImproperlyConfigured(f"ESSMON_EMAIL_URL={url!r}: bad timeout") from exc
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or (465 if scheme == "smtps" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_SSL": scheme == "smtps",
            "EMAIL_USE_TLS": starttls and scheme == "smtp",
            "EMAIL_TIMEOUT": timeout,
        }
    raise ImproperlyConfigured(
        f"ESSMON_EMAIL_URL={url!r}: scheme must be console, file, smtp or smtps"
    )
