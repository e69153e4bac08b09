"""The request bodies and query strings the public API reads: JSON as RFC 8259 defines
it, sent as ``application/json``, and each single-valued parameter given once; each
refusal a problem that says what is wrong (docs/api.md, "Errors"). Python's ``json`` module alone would take a duplicate key silently (the last
one wins: ``{"reserve_soc_pct": 30, "reserve_soc_pct": 80}`` asks for 80 whatever the
client meant), read ``NaN`` and ``Infinity``, and ignore the Content-Type."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from essmon.api.problems import ApiProblem, invalid

# a parameter's name as the document spells them: named back in a problem; anything else
# is no parameter of ours, and is not echoed
PARAMETER_NAME = re.compile(r"[a-z_]{1,40}")


def _refused(detail: str) -> ApiProblem:
    return ApiProblem(400, "bad-request", detail)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            # the key is not echoed (it may be anything), its length and place are enough
            raise _refused("An object in the JSON body has the same key twice.")
        found[key] = value
    return found


def _constant(name: str) -> Any:
    raise _refused(f"The JSON body holds {name}, which JSON does not have; send a number.")


def is_json(media_type: str) -> bool:
    media = media_type.strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if not is_json(request.content_type or ""):
            raise ApiProblem(
                415,
                "unsupported-media-type",
                "The body must be JSON sent with Content-Type: application/json.",
            )
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refused(f"The body is not UTF-8 (byte {exc.start} is not).") from None
        try:
            data: Any = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
        except json.JSONDecodeError as exc:
            raise _refused(
                f"The body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except RecursionError:
            raise _refused("The JSON body is nested too deeply.") from None
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        """A single-valued parameter given twice (``?limit=1&limit=100``) is refused, not
        read as its last value, which may not be the one the caller meant."""
        for key in data:
            if (
                key not in list_fields
                and PARAMETER_NAME.fullmatch(key)
                and len(data.getlist(key)) > 1
            ):
                raise invalid(
                    (f"query.{key}", "given more than once"),
                    detail="A query parameter that takes one value was given more than once.",
                )
        return super().parse_querydict(data, list_fields, request)
