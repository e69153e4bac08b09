"""Helpers shared by the multi-step flows: their input lives in the session between steps."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.http import HttpRequest

from essmon.accounts.forms import POSTAL_TARGETS
from essmon.core.http import client_address
from essmon.core.japanese import (
    InputError,
    PostalAddress,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
    without_repeated_area,
)
from essmon.gateways.services.claims import (
    GatewayError,
    check_gateway_credentials,
    verified_gateway,
    verified_marker,
)

# Fields that may travel between steps. Only these are kept, so a session never carries
# arbitrary posted keys; nor passwords: a checked gateway password leaves a marker
# instead (verify_gateway_step).


def keep_post(request: HttpRequest, key: str, form: forms.Form) -> None:
    request.session[key] = {
        name: request.POST.get(name, "")
        for name, field in form.fields.items()
        if not isinstance(field.widget, forms.PasswordInput)
    }


def kept(request: HttpRequest, key: str) -> dict | None:
    return request.session.get(key)


def forget(request: HttpRequest, *keys: str) -> None:
    for key in keys:
        request.session.pop(key, None)


def verified_gateway_id(request: HttpRequest, marker_key: str) -> str | None:
    """The gateway whose sheet password this flow has checked, if any."""
    marker = request.session.get(marker_key)
    return marker.get("gateway_id") if isinstance(marker, dict) else None


def verify_gateway_step(
    request: HttpRequest, form: forms.Form, marker_key: str, *, user_id: int | None = None
) -> bool:
    """Check the sheet's ID and password at the gateway step, so the error stands next to
    the field; on success the session keeps a marker for the later steps."""
    data = form.cleaned_data
    try:
        if data["gateway_password"]:
            gateway = check_gateway_credentials(
                gateway_id=data["gateway_id"],
                password=data["gateway_password"],
                client_address=client_address(request),
                user_id=user_id,
            )
            request.session[marker_key] = verified_marker(gateway=gateway)
        else:  # the form leaves it empty only for the gateway this flow already checked
            verified_gateway(
                marker=request.session.get(marker_key),
                gateway_id=data["gateway_id"],
                user_id=user_id,
            )
    except GatewayError as exc:
        show_gateway_error(request, form, exc, marker_key)
        return False
    return True


def show_gateway_error(
    request: HttpRequest, form: forms.Form, exc: GatewayError, marker_key: str
) -> None:
    if exc.field == "gateway_password":  # the check is void (too old): the password again
        request.session.pop(marker_key, None)
        form.fields["gateway_password"].help_text = ""
    form.add_error(exc.field, exc.message)


@dataclass(frozen=True)
class PostalFill:
    """The outcome of 「住所検索」 for one address block."""

    data: dict
    error: str | None = None  # for the postal field: the code is malformed or unknown
    note: str = ""  # what the person should know: a town left to them, several cities

    def context(self, target: str) -> dict:
        """For _postal_field.html: the form shown again with the block filled."""
        return {"postal_errors": {target: self.error}, "postal_notes": {target: self.note}}


_MAX_NAMED = 5


def _named(values: tuple[str, ...]) -> str:
    shown = "、".join(values[:_MAX_NAMED])
    return shown + (f" ほか{len(values) - _MAX_NAMED}件" if len(values) > _MAX_NAMED else "")


def postal_notes(found: PostalAddress) -> tuple[str, str]:
    """What to tell the person after a look-up: (when それ以降の住所 was filled or had
    nothing to take, when it was left as the person typed it)."""
    if not found.city:
        note = (
            f"この郵便番号は複数の市町村区にまたがります({_named(found.cities)})。"
            "市町村区を入力してください。"
        )
        return note, note
    if len(found.towns) > 1:
        note = (
            f"この郵便番号には複数の町域があります({_named(found.towns)})。"
            "それ以降の住所に町域から入力してください。"
        )
        return note, note
    if found.town:
        kept = (
            "それ以降の住所は入力済みのため変えていません。"
            f"この郵便番号の町域は「{found.town}」です。"
        )
        return "", kept
    return "", ""


def apply_postal_lookup(data: dict, target: str) -> PostalFill:
    """「住所検索」 without JavaScript: the whole form came with the request, so nothing was
    typed since. Fills 都道府県 and 市町村区 from the postal code, and それ以降の住所 with
    the town only when it is empty; text the person typed there is never replaced.

    (With JavaScript, static/js/postal.js does the same from ``postal_lookup``'s answer, and
    also leaves alone whatever was typed while the answer was on its way.)
    """
    names = POSTAL_TARGETS[target]
    data = dict(data)
    try:
        found = lookup_postal_code(data.get(names["postal"], ""))
    except InputError as exc:
        return PostalFill(data, str(exc))
    data[names["postal"]] = format_postal_code(normalize_postal_code(data[names["postal"]]))
    data[names["prefecture"]] = found.prefecture
    if found.city:
        data[names["city"]] = found.city
    on_fill, on_keep = postal_notes(found)
    rest = without_repeated_area(
        data.get(names["rest"], ""), found.prefecture, data.get(names["city"], "").strip()
    )
    if rest:
        data[names["rest"]] = rest
        has_town = bool(found.town) and rest.startswith(found.town)
        return PostalFill(data, note=on_fill if has_town else on_keep)
    data[names["rest"]] = found.town
    return PostalFill(data, note=on_fill)
