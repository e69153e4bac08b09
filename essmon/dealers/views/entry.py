"""販売店様の登録 on the registration site: terms → form → confirmation → completion.

The same steps as the customer's registration; activation then goes through the
customer's /activate/ flow unchanged.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.models import TermsVersion
from essmon.accounts.selectors import current_terms
from essmon.accounts.views import steps
from essmon.core.http import client_address
from essmon.dealers.forms import DealerRegistrationForm
from essmon.dealers.services.registration import register_dealer


def _register(request: HttpRequest, form: DealerRegistrationForm) -> str:
    data = form.cleaned_data
    register_dealer(
        person=form.person(data["email"]),
        company_name=data["company_name"],
        branch=data["branch"],
        terms=current_terms(TermsVersion.Audience.DEALER),
        client_address=client_address(request),
    )
    return data["email"]


FLOW = steps.Flow(
    name="dealer_registration",
    terms=steps.Terms(url="dealers:entry_terms", audience=TermsVersion.Audience.DEALER),
    steps=(
        steps.Step(
            name="form",
            url="dealers:entry_form",
            template="dealers/entry/form.html",
            form=DealerRegistrationForm,
            postal=("user",),
        ),
    ),
    confirm_url="dealers:entry_confirm",
    confirm_template="dealers/entry/confirm.html",
    register=_register,
    done_url="dealers:entry_done",
    done_template="dealers/entry/done.html",
    done_as="email",
    no_done="accounts:landing",
    steps_header="accounts/entry/_steps.html",
)


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    return FLOW.terms_page(request)


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    return FLOW.input_page(request, FLOW.steps[0])


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    return FLOW.confirm_page(request)


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    return FLOW.done_page(request)
