"""The multi-step forms: (terms →) input pages → confirmation → completion.

A flow declares its pages (form class, template, URL name) and its service call; this
module does the rest the same way for each: the session keys its input waits under, the
terms it must have agreed to, the way from page to page (and back), validating the kept
input again before the service is called, the service's refusals shown on the form they
concern, forgetting the input once registered, and the completion page's handoff.
Customer registration (``portal.entry``), dealer registration (``dealers.views.entry``)
and 「ゲートウェイの登録」 (``portal.menu``) are such flows; their view functions stay
thin, so that each module can add its own decorators (login, customers only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from essmon.accounts.selectors import current_terms
from essmon.accounts.views.common import apply_postal_lookup
from essmon.core.http import client_address
from essmon.gateways.identifiers import is_valid_gateway_id, normalize_gateway_id
from essmon.gateways.services.claims import (
    GatewayError,
    check_gateway_credentials,
    verified_gateway,
    verified_marker,
)
from essmon.notifications.services import MailLimitError

# The gateway ID the sheet's QR code opened the registration with (portal.entry.landing's
# ``gw``): it fills the gateway ID of any flow's page that asks for one (registration, or
# 「ゲートウェイの登録」 after logging in) until a flow is registered. Only an ID of the
# right form is kept, and nothing says whether it exists: that is the password check's
# business, with its failure limits.
SHEET_GATEWAY_KEY = "sheet_gateway_id"


def remember_sheet_gateway(request: HttpRequest, value: str) -> str | None:
    """Keep ``value`` as the QR code's gateway ID if it is one; anything else is ignored."""
    gateway_id = normalize_gateway_id(value[:40])
    if not is_valid_gateway_id(gateway_id):
        return None
    request.session[SHEET_GATEWAY_KEY] = gateway_id
    return gateway_id


@dataclass(frozen=True)
class Step:
    """An input page. What it posts waits in the session until the flow is registered."""

    name: str  # with the flow's name, the session key of the kept input
    url: str  # URL name
    template: str
    form: Callable[..., forms.Form]  # the form class
    # the address blocks whose 「住所検索」 this page answers without JavaScript
    postal: tuple[str, ...] = ()
    # the gateway sheet's ID and password are typed here and checked at once, so the error
    # stands next to the field; the form then takes ``verified_gateway_id``
    gateway: bool = False


@dataclass(frozen=True)
class Terms:
    """The terms the person agrees to before the first input page."""

    url: str  # URL name of the terms page
    audience: str  # TermsVersion.Audience
    template: str = "accounts/entry/terms.html"


@dataclass(frozen=True)
class Flow:
    name: str  # prefix of the flow's session keys
    steps: tuple[Step, ...]
    confirm_url: str
    confirm_template: str
    # (request, one valid form per step) → what the completion page shows; may refuse with
    # GatewayError or MailLimitError
    register: Callable[..., str]
    done_url: str
    done_template: str
    done_as: str  # the completion page's name for what ``register`` returned
    no_done: str  # URL name for the completion page opened without a registration
    steps_header: str  # the flow's 「登録の流れ」 list, included by every page of it
    terms: Terms | None = None
    # the person is logged in: the gateway check's failure limit also counts per account
    signed_in: bool = False
    # the completion page shows once (a reload goes to ``no_done``)
    done_once: bool = False
    # more for the confirmation page, from the input of all steps
    confirm_extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    # --- session keys -----------------------------------------------------------------

    def kept_key(self, step: Step) -> str:
        return f"{self.name}_{step.name}"

    @property
    def terms_key(self) -> str:
        return f"{self.name}_terms_id"

    @property
    def verified_key(self) -> str:
        """The marker of the checked gateway password (never the password itself)."""
        return f"{self.name}_verified"

    @property
    def done_key(self) -> str:
        return f"{self.name}_done_{self.done_as}"

    # --- pages --------------------------------------------------------------------------

    def terms_page(self, request: HttpRequest) -> HttpResponse:
        assert self.terms is not None
        current = current_terms(self.terms.audience)
        if request.method == "POST":
            request.session[self.terms_key] = current.pk
            return redirect(self.steps[0].url)
        return render(
            request,
            self.terms.template,
            {"terms": current, "action": request.path, "step": "entry"},
        )

    def input_page(self, request: HttpRequest, step: Step) -> HttpResponse:
        if not self._terms_agreed(request):
            assert self.terms is not None
            return redirect(self.terms.url)
        for earlier in self.steps[: self.steps.index(step)]:
            if not request.session.get(self.kept_key(earlier)):
                return redirect(earlier.url)
        if request.method == "POST":
            lookup = request.POST.get("lookup", "")
            if lookup in step.postal:
                # 「住所検索」 without JavaScript: fill the address and show the form again.
                filled = apply_postal_lookup(request.POST.dict(), lookup)
                return render(
                    request,
                    step.template,
                    {"form": self._form(request, step, initial=filled.data)}
                    | filled.context(lookup),
                )
            form = self._form(request, step, request.POST)
            if form.is_valid() and (not step.gateway or self._check_gateway(request, form)):
                self._keep(request, step, form)
                return redirect(self._next_url(step))
        else:
            initial = request.session.get(self.kept_key(step)) or self._from_sheet(request, step)
            form = self._form(request, step, initial=initial)
        return render(request, step.template, {"form": form})

    def confirm_page(self, request: HttpRequest) -> HttpResponse:
        if not self._terms_agreed(request):
            return redirect(self.steps[0].url)
        # validated again: the session may be older than a change of the rules or the data
        filled = []
        for step in self.steps:
            form = self._form(request, step, request.session.get(self.kept_key(step)) or None)
            if not form.is_valid():
                return redirect(step.url)
            filled.append(form)
        if request.method == "POST":
            if "back" in request.POST:
                return redirect(self.steps[-1].url)
            try:
                shown = self.register(request, *filled)
            except GatewayError as exc:
                step, form = next(
                    (s, f) for s, f in zip(self.steps, filled, strict=True) if s.gateway
                )
                self._show_gateway_error(request, form, exc)
                return render(request, step.template, {"form": form})
            except MailLimitError as exc:
                form = filled[0]
                form.add_error(None, exc.message)  # not an input error: said at the top
                return render(request, self.steps[0].template, {"form": form})
            self._forget(request)
            request.session[self.done_key] = shown
            return redirect(self.done_url)
        data: dict[str, Any] = {}
        for form in filled:
            data |= form.cleaned_data
        extra = self.confirm_extra(data) if self.confirm_extra else {}
        return render(
            request,
            self.confirm_template,
            {
                "data": data,
                "steps_header": self.steps_header,
                "current": self._position(self.confirm_url),
                "confirm_url": self.confirm_url,
            }
            | extra,
        )

    def done_page(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        shown = session.pop(self.done_key, None) if self.done_once else session.get(self.done_key)
        if not shown:
            return redirect(self.no_done)
        return render(request, self.done_template, {self.done_as: shown})

    # --- the steps' parts ---------------------------------------------------------------

    def _terms_agreed(self, request: HttpRequest) -> bool:
        if self.terms is None:
            return True
        return bool(request.session.get(self.terms_key) == current_terms(self.terms.audience).pk)

    def _next_url(self, step: Step) -> str:
        at = self.steps.index(step) + 1
        return self.steps[at].url if at < len(self.steps) else self.confirm_url

    def _position(self, url: str) -> int:
        """The page's place in the steps header (1 for the first)."""
        urls = [self.terms.url] if self.terms else []
        urls += [step.url for step in self.steps] + [self.confirm_url, self.done_url]
        return urls.index(url) + 1

    def _form(
        self,
        request: HttpRequest,
        step: Step,
        data: Mapping[str, Any] | None = None,
        *,
        initial: Mapping[str, Any] | None = None,
    ) -> forms.Form:
        if step.gateway:
            marker = request.session.get(self.verified_key)
            verified = marker.get("gateway_id") if isinstance(marker, dict) else None
            return step.form(data, initial=initial, verified_gateway_id=verified)
        return step.form(data, initial=initial)

    def _from_sheet(self, request: HttpRequest, step: Step) -> dict[str, str] | None:
        gateway_id = request.session.get(SHEET_GATEWAY_KEY)
        return {"gateway_id": gateway_id} if step.gateway and gateway_id else None

    def _keep(self, request: HttpRequest, step: Step, form: forms.Form) -> None:
        # Only the form's own fields travel between steps, so a session never carries
        # arbitrary posted keys; nor passwords: a checked gateway password leaves a marker
        # instead (_check_gateway).
        request.session[self.kept_key(step)] = {
            name: request.POST.get(name, "")
            for name, field in form.fields.items()
            if not isinstance(field.widget, forms.PasswordInput)
        }

    def _forget(self, request: HttpRequest) -> None:
        keys = [self.kept_key(step) for step in self.steps]
        for key in [*keys, self.terms_key, self.verified_key, SHEET_GATEWAY_KEY]:
            request.session.pop(key, None)

    def _check_gateway(self, request: HttpRequest, form: forms.Form) -> bool:
        """The sheet's ID and password; on success the session keeps a marker for the
        later steps."""
        data = form.cleaned_data
        user_id = request.user.pk if self.signed_in else None
        try:
            if data["gateway_password"]:
                gateway = check_gateway_credentials(
                    gateway_id=data["gateway_id"],
                    password=data["gateway_password"],
                    client_address=client_address(request),
                    user_id=user_id,
                )
                request.session[self.verified_key] = verified_marker(gateway=gateway)
            else:  # the form leaves it empty only for the gateway this flow already checked
                verified_gateway(
                    marker=request.session.get(self.verified_key),
                    gateway_id=data["gateway_id"],
                    user_id=user_id,
                )
        except GatewayError as exc:
            self._show_gateway_error(request, form, exc)
            return False
        return True

    def _show_gateway_error(
        self, request: HttpRequest, form: forms.Form, exc: GatewayError
    ) -> None:
        if exc.field == "gateway_password":  # the check is void (too old): the password again
            request.session.pop(self.verified_key, None)
            form.fields["gateway_password"].help_text = ""
        form.add_error(exc.field, exc.message)
