"""Helpers shared by the multi-step flows: their input lives in the session between steps."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from essmon.core.japanese import (
    InputError,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
)


# Fields that may travel between steps. Only these are kept, so a session never carries
# arbitrary posted keys; the gateway password is dropped once the flow completes.
def keep_post(request: HttpRequest, key: str, form: forms.Form) -> None:
    request.session[key] = {name: request.POST.get(name, "") for name in form.fields}


def kept(request: HttpRequest, key: str) -> dict | None:
    return request.session.get(key)


def forget(request: HttpRequest, *keys: str) -> None:
    for key in keys:
        request.session.pop(key, None)


# The two address blocks of the input form, and the fields the postal look-up fills.
POSTAL_TARGETS = {
    "user": {"postal": "postal_code", "prefecture": "prefecture", "city": "city", "rest": None},
    "site": {
        "postal": "site_postal_code",
        "prefecture": "site_prefecture",
        "city": None,
        "rest": "site_address_rest",
    },
}


def apply_postal_lookup(data: dict, target: str) -> tuple[dict, str | None]:
    """Fill 都道府県 (and 市町村区, or the start of それ以降の住所) from the postal code.

    Returns the new data and an error message for the postal field, if any. Used by the
    no-JavaScript 「住所検索」 button and by the htmx look-up alike.
    """
    names = POSTAL_TARGETS[target]
    data = dict(data)
    try:
        found = lookup_postal_code(data.get(names["postal"], ""))
    except InputError as exc:
        return data, str(exc)
    data[names["postal"]] = format_postal_code(normalize_postal_code(data[names["postal"]]))
    data[names["prefecture"]] = found.prefecture
    if names["city"]:
        data[names["city"]] = found.city
        if names["rest"] is None and found.town and not data.get("address_rest"):
            data["address_rest"] = found.town
    if names["rest"] and not data.get(names["rest"]):
        data[names["rest"]] = f"{found.city}{found.town}"
    return data, None
