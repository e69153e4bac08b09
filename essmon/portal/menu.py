"""管理・登録サイト: メインメニュー, account changes, and 「ゲートウェイの登録」."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts import selectors
from essmon.accounts.forms import (
    EmailChangeForm,
    GatewayForm,
    PasswordChangeForm,
    ProfileForm,
)
from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import AccountToken
from essmon.accounts.services.changes import (
    change_password,
    confirm_email_change,
    request_email_change,
    update_profile,
)
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.gateway_add import add_gateway
from essmon.accounts.services.inputs import PROFILE_FIELDS
from essmon.accounts.tokens import find_token
from essmon.accounts.validators import password_rules
from essmon.accounts.views import steps
from essmon.accounts.views.common import apply_postal_lookup
from essmon.core.http import client_address
from essmon.core.japanese import format_phone, format_postal_code
from essmon.dealers import access
from essmon.dealers.access import customer_only
from essmon.dealers.disclosure import (
    RECORDED_ACTIVITIES,
    record_retention_text,
    recorded_activities,
)
from essmon.dealers.services import staff_logins
from essmon.notifications.services import MailLimitError
from essmon.portal import operator
from essmon.portal.forms import SiteForm
from essmon.transfers import selectors as transfer_selectors
from essmon.warranty import selectors as warranty_selectors
from essmon.warranty.outlook import warranty_outlook


@login_required
@require_GET
def menu(request: AuthenticatedRequest) -> HttpResponse:
    if access.dealer_of(request.user) is not None:
        return redirect("dealers:menu")
    if access.is_desk_operator(request.user):
        return render(
            request,
            "accounts/menu/operator.html",
            {
                "counts": operator.overview(request.user, now=timezone.now()),
                "admin_links": operator.admin_links(request.user),
                "desk_links": operator.desk_links(request.user),
            },
        )
    if access.is_viewer(request.user):
        return render(request, "accounts/menu/viewer.html")
    gateways = selectors.gateways_of(user=request.user)
    prompts = warranty_selectors.dates_prompts(gateways)
    return render(
        request,
        "accounts/menu/menu.html",
        {
            "gateways": gateways,
            # 系統連系日・受取日 still missing: asked for until entered (issue 12 §4)
            "dates_prompts": [(gw, prompts[gw.pk]) for gw in gateways if gw.pk in prompts],
            # 名義変更 started and not yet claimed (docs/transfers.md)
            "pending_transfers": transfer_selectors.pending_count(owner=request.user),
        },
    )


@login_required
@require_GET
def account(request: AuthenticatedRequest) -> HttpResponse:
    if access.dealer_of(request.user) is not None:
        return redirect("dealers:menu")  # a dealer's account page is its menu
    if access.is_desk_operator(request.user) or access.is_viewer(request.user):
        # so is an operator's (no address, no gateways) and a viewer's (mail and password)
        return redirect("accounts:menu")
    user = request.user
    return render(
        request,
        "accounts/menu/account.html",
        {"phone": format_phone(user.phone), "postal_code": format_postal_code(user.postal_code)},
    )


def _profile_initial(user) -> dict:
    initial = {field: getattr(user, field) for field in PROFILE_FIELDS}
    initial["phone"] = format_phone(user.phone)
    initial["postal_code"] = format_postal_code(user.postal_code)
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedRequest) -> HttpResponse:
    if access.dealer_admin_of(request.user) is not None:
        return redirect("dealers:profile")
    if access.dealer_of(request.user) is not None:
        return redirect("dealers:menu")  # staff do not manage the dealer's profile
    if access.is_desk_operator(request.user) or access.is_viewer(request.user):
        return redirect("accounts:menu")
    if request.method == "POST" and request.POST.get("lookup") == "user":
        filled = apply_postal_lookup(request.POST.dict(), "user")
        form = ProfileForm(initial=filled.data)
        return render(
            request, "accounts/menu/profile.html", {"form": form, **filled.context("user")}
        )
    form = ProfileForm(request.POST or None, initial=_profile_initial(request.user))
    if request.method == "POST" and form.is_valid():
        update_profile(user=request.user, person=form.person(request.user.email))
        messages.success(request, "お客様情報を変更しました。")
        return redirect("accounts:account")
    return render(request, "accounts/menu/profile.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def email_change(request: AuthenticatedRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        new_email = form.cleaned_data["email"].strip()
        try:
            request_email_change(
                user=request.user, new_email=new_email, client_address=client_address(request)
            )
        except (AccountError, MailLimitError) as exc:
            form.add_error(exc.field, exc.message)
        else:
            return render(request, "accounts/menu/email_change_sent.html", {"email": new_email})
    return render(request, "accounts/menu/email_change.html", {"form": form})


@require_GET
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        confirm_email_change(token=find_token(raw=token, purpose=AccountToken.Purpose.EMAIL_CHANGE))
    except AccountError as exc:
        return render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    messages.success(
        request,
        "メールアドレスを変更しました。次回から新しいメールアドレスでログインしてください。",
    )
    return redirect("accounts:account" if request.user.is_authenticated else "accounts:login")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: AuthenticatedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        change_password(user=request.user, new_password=form.cleaned_data["new_password"])
        # Other sessions hold the old password's hash and are logged out; keep this one.
        update_session_auth_hash(request, request.user)
        messages.success(request, "パスワードを変更しました。他の端末のログインは終了しました。")
        return redirect("accounts:account")
    return render(request, "accounts/menu/password_change.html", {"form": form})


# --- 「ゲートウェイの登録」: ID and password → 案件 → confirmation → completion -------


def _add_gateway(request: AuthenticatedRequest, gateway: GatewayForm, site: SiteForm) -> str:
    added = add_gateway(
        user=request.user,
        gateway_id=gateway.cleaned_data["gateway_id"],
        verified=request.session.get(GATEWAY_ADD.verified_key),
        site=site.site(),
        client_address=client_address(request),
        grid_connection_date=site.cleaned_data["grid_connection_date"],
        received_date=site.cleaned_data["received_date"],
    )
    return added.gateway_id


GATEWAY_ADD = steps.Flow(
    name="add_gateway",
    steps=(
        steps.Step(
            name="credentials",
            url="accounts:gateway_add",
            template="accounts/menu/gateway_add.html",
            form=GatewayForm,
            gateway=True,
        ),
        steps.Step(
            name="site",
            url="accounts:gateway_add_site",
            template="accounts/menu/gateway_add_site.html",
            form=SiteForm,
            postal=("site",),
        ),
    ),
    signed_in=True,
    confirm_url="accounts:gateway_add_confirm",
    confirm_template="accounts/menu/gateway_add_confirm.html",
    confirm_extra=lambda data: {"warranty_outlook": warranty_outlook(data, at_once=True)},
    register=_add_gateway,
    done_url="accounts:gateway_add_done",
    done_template="accounts/menu/gateway_add_done.html",
    done_as="gateway_id",
    done_once=True,
    no_done="accounts:menu",
    steps_header="accounts/menu/_steps.html",
)


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def gateway_add(request: HttpRequest) -> HttpResponse:
    return GATEWAY_ADD.input_page(request, GATEWAY_ADD.steps[0])


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def gateway_add_site(request: HttpRequest) -> HttpResponse:
    return GATEWAY_ADD.input_page(request, GATEWAY_ADD.steps[1])


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def gateway_add_confirm(request: HttpRequest) -> HttpResponse:
    return GATEWAY_ADD.confirm_page(request)


@login_required
@customer_only
@require_GET
def gateway_add_done(request: HttpRequest) -> HttpResponse:
    return GATEWAY_ADD.done_page(request)


MANUAL_LIMITS = (
    "LOGIN_FAILURES_PER_ACCOUNT",
    "LOGIN_LOCK_HOURS",
    "MAIL_REQUESTS_PER_RECIPIENT_PER_DAY",
    "MAIL_REQUESTS_PER_CLIENT_PER_HOUR",
    "ACTIVATION_DAYS",
    "PROVISION_RECORD_YEARS",
)


@require_GET
def manual(request: HttpRequest) -> HttpResponse:
    # the limits the manual states are this installation's settings, not numbers copied in
    limits = {name: getattr(settings, name) for name in MANUAL_LIMITS}
    dealer_records = {
        "recorded": RECORDED_ACTIVITIES,
        "recorded_for_dealers": recorded_activities("お客様のシステム"),
        "retention": record_retention_text(),
    }
    # so are the password rules: the configured validators' own texts
    return render(
        request,
        "accounts/manual.html",
        {
            "limits": limits,
            "password_rules": password_rules(),
            "dealer_records": dealer_records,
            "staff_invitation_days": staff_logins.INVITATION_LIFETIME.days,
        },
    )
