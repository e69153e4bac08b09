"""gunicorn's access log without the tokens of mailed links.

An activation, password-reset, unlock or confirmation URL opens an account to whoever
reads it, and the access log records URLs, also as the Referer of the page that
followed. ``essmon serve`` starts gunicorn with ``--logger-class`` pointing here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from gunicorn.glogging import Logger

from essmon.core.redact import REDACTED

# the public API's tokens and the webhooks' secrets, wherever a person pasted one into a
# URL (?token=essmon_pat_…): the API reads them from a header only, but the line is
# written before anyone looks
PASTED_SECRET = re.compile(r"(essmon_pat_|whsec_)[A-Za-z0-9_%+/=-]+")
# headers that carry credentials: gunicorn offers every request header as a "{name}i"
# atom, and reads %(u)s, the user, out of a Basic Authorization (``curl -u token:``)
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


def _redact_path(path: str) -> str:
    path = PASTED_SECRET.sub(REDACTED, path)
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
    """The request line, path, query and Referer of each access-log line, tokens
    replaced; no credential header, and no user read out of one."""

    def atoms(self, resp, req, environ, request_time):
        environ = dict(environ)
        for key in ("RAW_URI", "PATH_INFO", "REQUEST_URI"):
            if environ.get(key):
                environ[key] = _redact_path(environ[key])
        if environ.get("HTTP_REFERER"):
            environ["HTTP_REFERER"] = _redact_url(environ["HTTP_REFERER"])
        # no user read out of the credentials: %(u)s is "-"
        environ.pop("HTTP_AUTHORIZATION", None)
        atoms = super().atoms(resp, req, environ, request_time)
        for name in CREDENTIAL_HEADERS:
            if f"{{{name}}}i" in atoms:
                atoms[f"{{{name}}}i"] = REDACTED  # type: ignore[literal-required]
        query = atoms.get("q")
        if isinstance(query, str):
            atoms["q"] = PASTED_SECRET.sub(REDACTED, query)
        referer = atoms.get("{referer}i")
        if isinstance(referer, str) and referer:
            # gunicorn adds a "{name}i" atom per request header; its stubs list only the fixed ones
            atoms["{referer}i"] = _redact_url(referer)  # type: ignore[typeddict-unknown-key]
        return atoms
