"""What every operation declares: the problems it may answer, and the parameters of a
paginated list."""

from __future__ import annotations

from typing import Any

from ninja import Schema

from essmon.api.problems import Problem

# the problems any operation with a token may answer (docs/api.md, "Errors")
ERRORS: dict[int, Any] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    422: Problem,
    429: Problem,
}


# and those of an operation that reads a body (essmon/api/body.py)
BODY_ERRORS: dict[int, Any] = {**ERRORS, 413: Problem, 415: Problem}


def responses(ok: dict[int, Any]) -> dict[int, Any]:
    return {**ok, **ERRORS}


class Page(Schema):
    next_cursor: str | None
