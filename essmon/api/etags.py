"""ETags (docs/api.md, "ETags"): a strong tag made from the body, so a client that sends
it back in ``If-None-Match`` gets ``304 Not Modified`` without the body while nothing
changed. Made from the serialised body, not from timestamps, so it is right whatever
changed the data."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from pydantic import BaseModel


def _body(data: BaseModel | dict[str, Any] | list[Any]) -> bytes:
    plain = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()


def tag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def matches(if_none_match: str, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison, RFC 9110)."""
    if if_none_match.strip() == "*":
        return True
    candidates = (part.strip() for part in if_none_match.split(","))
    return any(part.removeprefix("W/") == tag for part in candidates if part)


def with_etag(request: HttpRequest, data: BaseModel | dict[str, Any] | list[Any]) -> HttpResponse:
    """``data`` as JSON with its ETag, or 304 when the request's ``If-None-Match`` names
    it. Declare ``304: None`` among the operation's responses."""
    body = _body(data)
    tag = tag_of(body)
    if matches(request.headers.get("If-None-Match", ""), tag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    return response
