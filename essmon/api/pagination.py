"""Cursor pagination (docs/api.md, "Pagination"): pages in a stable order of a unique key,
each ending with an opaque ``next_cursor`` for the next. A cursor is the last key of the
page and what the list was asked for, signed with the service's secret key: it cannot be
forged or moved to another list, and one that fails its check is a 400 problem."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.core import signing
from django.db.models import Model, QuerySet

from essmon.api.problems import ApiProblem

SALT = "essmon.api.cursor"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512
CursorKey = str | int
M = TypeVar("M", bound=Model)


def encode_cursor(*, after: CursorKey, context: str) -> str:
    """A cursor resuming after ``after`` in the list ``context`` names (its filters)."""
    return signing.dumps({"a": after, "c": context}, salt=SALT, compress=False)


def decode_cursor(value: str | None, *, context: str) -> CursorKey | None:
    """The key to resume after, or None for the first page; 400 for a cursor that is not
    one of ours or was made for another list."""
    if not value:
        return None
    bad = ApiProblem(
        400, "bad-request", "The cursor is not valid for this list; start again without it."
    )
    if len(value) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        data: Any = signing.loads(value, salt=SALT)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("c") != context:
        raise bad
    after = data.get("a")
    if isinstance(after, bool) or not isinstance(after, (str, int)):
        raise bad
    return after


def keyset_page(
    rows: QuerySet[M], *, key: str, after: CursorKey | None, limit: int
) -> tuple[list[M], CursorKey | None]:
    """One page of ``rows`` (already ordered by ``key``, ascending, unique) after
    ``after``, and the key to continue after, None on the last page."""
    if after is not None:
        rows = rows.filter(**{f"{key}__gt": after})
    page = list(rows[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    last: CursorKey = getattr(page[-1], key)
    return page, last


def next_cursor(last: CursorKey | None, *, context: str) -> str | None:
    return None if last is None else encode_cursor(after=last, context=context)


def context_of(*parts: str | int | Sequence[str] | None) -> str:
    """A list's identity for its cursor: the operation and each filter's value."""
    return "|".join("" if part is None else str(part) for part in parts)
