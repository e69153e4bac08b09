"""gunicorn's access log without the tokens of mailed links.

An activation, password-reset, unlock or confirmation URL opens an account to whoever
reads it, and the access log records URLs, also as the Referer of the page that
followed. ``essmon serve`` starts gunicorn with ``--logger-class`` pointing here.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from gunicorn.glogging import Logger

from essmon.core.redact import REDACTED


def _redact_path(path: str) -> str:
    try:
        from essmon.core.redact import redact_path

        return redact_path(path)
    except Exception:  # Django not set up (cannot happen in a worker): log no path at all
        return REDACTED


def _redact_url(url: str) -> str:
    if not url or url == "-":
        return url
    parts = urlsplit(url)
    path = _redact_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    bare, _, query = path.partition("?")
    return urlunsplit((parts.scheme, parts.netloc, bare, query, parts.fragment))


class RedactingLogger(Logger):
    """The request line, path and Referer of each access-log line, tokens replaced."""

    def atoms(self, resp, req, environ, request_time):
        environ = dict(environ)
        for key in ("RAW_URI", "PATH_INFO", "REQUEST_URI"):
            if environ.get(key):
                environ[key] = _redact_path(environ[key])
        if environ.get("HTTP_REFERER"):
            environ["HTTP_REFERER"] = _redact_url(environ["HTTP_REFERER"])
        atoms = super().atoms(resp, req, environ, request_time)
        referer = atoms.get("{referer}i")
        if isinstance(referer, str) and referer:
            # gunicorn adds a "{name}i" atom per request header; its stubs list only the fixed ones
            atoms["{referer}i"] = _redact_url(referer)  # type: ignore[typeddict-unknown-key]
        return atoms
