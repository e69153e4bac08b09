"""本登録: the mailed link → 利用規約 → password and phone → 本登録済み."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts import selectors
from essmon.accounts.forms import ActivationForm
from essmon.accounts.models import AccountToken
from essmon.accounts.services.activation import activate_account, usable_activation
from essmon.accounts.services.errors import AccountError
from essmon.accounts.tokens import find_token
from essmon.core.http import client_address

AGREED_KEY = "activation_terms"


def _token_or_error(
    request: HttpRequest, raw: str
) -> tuple[AccountToken | None, HttpResponse | None]:
    try:
        token = usable_activation(find_token(raw=raw, purpose=AccountToken.Purpose.ACTIVATION))
    except AccountError as exc:
        return None, render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    return token, None


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest, token: str) -> HttpResponse:
    found, error = _token_or_error(request, token)
    if error:
        return error
    assert found is not None  # _token_or_error gives one or the other
    current = selectors.terms_for(user=found.user)
    if request.method == "POST":
        request.session[AGREED_KEY] = {"token": found.pk, "terms": current.pk}
        return redirect("accounts:activate_password", token=token)
    return render(
        request,
        "accounts/entry/terms.html",
        {"terms": current, "action": request.path, "step": "activation", "name": found.user.name},
    )


@require_http_methods(["GET", "POST"])
def password(request: HttpRequest, token: str) -> HttpResponse:
    found, error = _token_or_error(request, token)
    if error:
        return error
    assert found is not None  # _token_or_error gives one or the other
    current = selectors.terms_for(user=found.user)
    if request.session.get(AGREED_KEY) != {"token": found.pk, "terms": current.pk}:
        return redirect("accounts:activate", token=token)
    form = ActivationForm(request.POST or None, user=found.user)
    if request.method == "POST" and form.is_valid():
        notices: list[str] = []
        try:
            activate_account(
                token=found,
                password=form.cleaned_data["password"],
                phone=form.cleaned_data["phone"],
                terms=current,
                client_address=client_address(request),
                notices=notices,
            )
        except AccountError as exc:
            if exc.field is None:
                return render(
                    request,
                    "accounts/activation/invalid.html",
                    {"message": exc.message},
                    status=410,
                )
            for message in exc.messages:
                form.add_error(exc.field, message)
        else:
            request.session.pop(AGREED_KEY, None)
            request.session["activation_done"] = True
            request.session["activation_notices"] = notices
            return redirect("accounts:activate_done")
    return render(
        request, "accounts/activation/password.html", {"form": form, "name": found.user.name}
    )


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    if not request.session.pop("activation_done", False):
        return redirect("accounts:login")
    notices = request.session.pop("activation_notices", [])
    return render(request, "accounts/activation/done.html", {"notices": notices})
