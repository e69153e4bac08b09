"""Secret parts of our URLs (the tokens of mailed links), for logs and stored mails.

Which URLs carry a secret is read from the URL patterns themselves: every route with a
``token`` argument. A new mailed link with a token is covered without a list to keep.

A path need not resolve to carry a live token: ``/activate/<token>`` (no slash) is
answered by APPEND_SLASH with a redirect, and a mail client may glue text to a link
(``/activate/<token>/。``). So a path that does not resolve is tried again with a slash,
and failing that, everything after the fixed start of a token route is redacted.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

SECRET_ARGUMENTS = frozenset({"token", "uidb64"})
REDACTED = "[redacted]"


def _resolve(path: str):
    """The match of ``path`` (percent-decoded), or of ``path`` with a slash added, as
    Django's APPEND_SLASH would redirect to; None when neither resolves."""
    for candidate in (path, path + "/") if not path.endswith("/") else (path,):
        try:
            return resolve(candidate)
        except (Resolver404, ValueError):
            continue
    return None


def secret_values(path: str) -> list[str]:
    """The secret arguments in ``path`` (a URL path, percent-encoded or not), if any."""
    return _secrets_of(_resolve(unquote(path)))


def _secrets_of(match) -> list[str]:
    if match is None or "token" not in match.kwargs:
        return []
    return [str(v) for k, v in match.kwargs.items() if k in SECRET_ARGUMENTS]


def token_route_prefixes() -> list[str]:
    """The fixed start of every route with a ``token`` argument (``/activate/``,
    ``/password-reset/``, ...), read from the URL patterns."""
    prefixes = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if not isinstance(entry.pattern, RoutePattern):
                continue  # a regular expression has no fixed start to read
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and "token" in entry.pattern.regex.groupindex:
                prefixes.append("/" + route[: route.index("<")])

    walk(get_resolver().url_patterns, "")
    return prefixes


def redact_path(path: str) -> str:
    """``path`` (query string allowed) with each secret segment replaced by ``[redacted]``."""
    bare, question, query = path.partition("?")
    decoded = unquote(bare)
    match = _resolve(decoded)
    if match is not None:
        secrets = _secrets_of(match)
        if not secrets:
            return path
        segments = [REDACTED if unquote(s) in secrets else s for s in bare.split("/")]
        return "/".join(segments) + question + query
    for prefix in token_route_prefixes():
        if bare.startswith(prefix):
            kept = prefix.count("/")
            segments = bare.split("/")
            rest = [REDACTED if s else s for s in segments[kept:]]
            return "/".join(segments[:kept] + rest) + question + query
        if decoded.startswith(prefix):  # the start itself percent-encoded: keep only it
            return prefix + REDACTED + question + query
    return path


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
