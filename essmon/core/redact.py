"""Secret parts of our URLs (the tokens of mailed links), for logs and stored mails.

Which URLs carry a secret is read from the URL patterns themselves: every route with a
``token`` argument. A new mailed link with a token is covered without a list to keep.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from django.urls import Resolver404, resolve

SECRET_ARGUMENTS = frozenset({"token", "uidb64"})
REDACTED = "[redacted]"


def secret_values(path: str) -> list[str]:
    """The secret arguments in ``path`` (a URL path, percent-encoded or not), if any."""
    try:
        match = resolve(unquote(path))
    except (Resolver404, ValueError):
        return []
    if "token" not in match.kwargs:
        return []
    return [str(v) for k, v in match.kwargs.items() if k in SECRET_ARGUMENTS]


def redact_path(path: str) -> str:
    """``path`` (query string allowed) with each secret segment replaced by ``[redacted]``."""
    bare, question, query = path.partition("?")
    secrets = secret_values(bare)
    if not secrets:
        return path
    segments = [REDACTED if unquote(s) in secrets else s for s in bare.split("/")]
    return "/".join(segments) + question + query


class TokenPathFilter(logging.Filter):
    """Django's request logs ("Gone: /activate/<token>/…") without the token."""

    LOGGERS = ("django.request", "django.server")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in self.LOGGERS and isinstance(record.args, tuple):
            record.args = tuple(
                _redact_or_hide(a) if isinstance(a, str) and a.startswith("/") else a
                for a in record.args
            )
        return True


def _redact_or_hide(path: str) -> str:
    try:
        return redact_path(path)
    except Exception:  # the URLconf cannot load: better no path than a token
        return REDACTED
