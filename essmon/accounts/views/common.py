"""Helpers shared by the multi-step flows: their input lives in the session between steps."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from essmon.core.http import client_address
from essmon.core.japanese import (
    InputError,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
)
from essmon.gateways.models import Gateway
from essmon.gateways.services import (
    GatewayError,
    check_gateway_credentials,
    verified_gateway,
    verified_marker,
)
from essmon.warranty.catalogue import term_for
from essmon.warranty.rules import JST, registration_outlook

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


def warranty_outlook(data: dict, *, at_once: bool) -> str:
    """What the warranty dates typed in a registration mean, for its confirmation page: the
    deadline of the extended warranty, or what applies once it has passed."""
    model = (
        Gateway.objects.filter(gateway_id=data.get("gateway_id", ""))
        .values_list("model", flat=True)
        .first()
    )
    return registration_outlook(
        grid_connection_date=data.get("grid_connection_date"),
        received_date=data.get("received_date"),
        today=timezone.localtime(timezone.now(), JST).date(),
        term=term_for(model or ""),
        at_once=at_once,
    )
