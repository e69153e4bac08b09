"""RFC 9457 problem details: every error the public API answers, whatever raised it
(docs/api.md, "Errors").

A problem's ``type`` names its kind (``urn:essmon:api:problem:<kind>``, each listed in
docs/api.md), ``title`` is the kind in a few words, ``detail`` this occurrence, and
``instance`` the path asked for. Validation problems add ``errors``: each with the
``location`` of the value (``query.limit``, ``path.gateway_id``, ``body.values.mode``) and a
``message``. The value sent is never echoed back: it may be anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:essmon:api:problem:"
# every kind, with its title (docs/api.md lists them)
KINDS: dict[str, str] = {
    "bad-request": "Bad request",
    "unauthorized": "Authentication required",
    "insufficient-scope": "The token lacks the scope this operation needs",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unsupported-media-type": "Unsupported media type",
    "validation": "Invalid input",
    "rate-limited": "Too many requests",
    "conflict": "Conflict",
    "payload-too-large": "Request body too large",
    "server-error": "Internal server error",
}
WWW_AUTHENTICATE = 'Bearer realm="essmon"'


class FieldError(Schema):
    location: str
    message: str


class Problem(Schema):
    """An error, as RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


class ApiProblem(Exception):
    """Raise anywhere below an operation: answered as the problem it describes."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.headers = dict(headers or {})
        self.errors = errors


def problem_response(request: HttpRequest, problem: ApiProblem) -> HttpResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.kind,
        "title": KINDS[problem.kind],
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
    }
    if problem.errors is not None:
        body["errors"] = [error.model_dump() for error in problem.errors]
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=problem.status, content_type=CONTENT_TYPE
    )
    for name, value in problem.headers.items():
        response[name] = value
    return response


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def not_found(detail: str = "No such resource, or not one this token may see.") -> ApiProblem:
    return ApiProblem(404, "not-found", detail)


def _location(loc: Any) -> str:
    parts = [str(part) for part in loc] if isinstance(loc, (list, tuple)) else [str(loc)]
    # ninja puts the operation's body parameter's name after "body": an operation names it
    # ``body``, and the location is the JSON's own path (body.values.mode)
    if parts[:2] == ["body", "body"]:
        parts = parts[1:]
    return ".".join(parts)


def invalid(*errors: tuple[str, str], detail: str = "") -> ApiProblem:
    """A 422 validation problem with ``(location, message)`` errors: input the schema
    allows but the operation's own checks refuse."""
    return ApiProblem(
        422,
        "validation",
        detail or "The request's input is not valid; see errors.",
        errors=[FieldError(location=location, message=message) for location, message in errors],
    )


def validation_problem(exc: ValidationError) -> ApiProblem:
    errors = [
        FieldError(location=_location(error.get("loc", ())), message=str(error.get("msg", "")))
        for error in exc.errors
    ]
    return ApiProblem(
        422, "validation", "The request's input is not valid; see errors.", errors=errors
    )


def as_problem(request: HttpRequest, exc: Exception) -> ApiProblem:
    """The problem any exception raised below an operation is answered with."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, ValidationError):
        return validation_problem(exc)
    if isinstance(exc, AuthenticationError):
        return unauthorized("A bearer token is required.")
    if isinstance(exc, HttpError) and isinstance(exc.__cause__, ApiProblem):
        # ninja wraps whatever the body's parser raised as "Cannot parse request body"; the
        # parser's own problem (body.StrictJsonParser) says what is wrong with it
        return exc.__cause__
    if isinstance(exc, HttpError):
        status = exc.status_code
        kind = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(status)
        if kind is None:
            kind = "bad-request" if status < 500 else "server-error"
        return ApiProblem(status, kind, str(exc))
    if isinstance(exc, Http404):
        return not_found()
    # Django's own limits on what it reads of a request (settings DATA_UPLOAD_*): the
    # caller sent too much, which is not a fault of ours
    if isinstance(exc, RequestDataTooBig):
        return ApiProblem(
            413,
            "payload-too-large",
            f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        )
    if isinstance(exc, TooManyFieldsSent):
        return ApiProblem(
            400,
            "bad-request",
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters.",
        )
    if isinstance(exc, SuspiciousOperation):
        return ApiProblem(400, "bad-request", "The request is malformed.")
    # logged with its traceback for the operators; the caller learns nothing of it
    logger.exception(
        "public API: unexpected error on %s %s", request.method, request.path, exc_info=exc
    )
    return ApiProblem(500, "server-error", "An unexpected error occurred; it has been logged.")


def _answer(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem_response(request, as_problem(request, exc))


def install(api: NinjaAPI) -> None:
    """Every exception an operation can meet, answered as a problem (ninja picks the
    handler of the nearest class in the exception's MRO)."""
    for kind in (Exception, Http404, HttpError, AuthenticationError, ValidationError, ApiProblem):
        api.add_exception_handler(kind, _answer)
