"""販売店スタッフのログイン: the administrator's page per staff member (invite, change the
role, end the login, and what the person did), and the staff member's mailed link (set a
password, agree to the dealers' terms)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from essmon.accounts import selectors as account_selectors
from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import AccountToken, TermsVersion
from essmon.accounts.tokens import find_token
from essmon.core.http import client_address
from essmon.dealers import access, selectors
from essmon.dealers.forms import StaffLoginAcceptForm, StaffLoginRoleForm
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.staff_logins import (
    accept_staff_login,
    change_staff_role,
    check_address,
    end_staff_login,
    invitation_for,
    invite_staff_login,
)
from essmon.notifications.services import MailLimitError

ACTIONS = ("invite", "role", "end")


@login_required
@require_http_methods(["GET", "POST"])
def staff_login(request: AuthenticatedRequest, staff_id: int) -> HttpResponse:
    """One staff member's login, for the dealer's administrator only (anyone else: 404)."""
    dealer = access.dealer_admin_of(request.user)
    if dealer is None:
        raise Http404("not a dealer's administrator")
    member = selectors.staff_member(dealer=dealer, staff_id=staff_id)
    if member is None:
        raise Http404("no such staff member")  # another dealer's staff does not exist here
    action = request.POST.get("action", "")
    posted = request.method == "POST" and action in ("invite", "role")
    form = StaffLoginRoleForm(
        request.POST if posted else None, initial={"role": member.login_role or "technician"}
    )
    if request.method == "POST":
        try:
            if action == "end":
                end_staff_login(dealer=dealer, staff_id=member.pk)
                messages.success(
                    request,
                    f"{member.name} 様のログインを停止しました。次の操作からご利用になれません。",
                )
                return redirect("dealers:staff_login", staff_id=member.pk)
            if action not in ACTIONS:
                raise DealerError("操作を選んでください。")
            if form.is_valid():
                role = form.cleaned_data["role"]
                if action == "invite":
                    invite_staff_login(
                        dealer=dealer,
                        staff_id=member.pk,
                        role=role,
                        client_address=client_address(request),
                    )
                    messages.success(
                        request,
                        f"{member.email} 宛にログインの招待メールを送りました。メールのURLから"
                        "パスワードを設定すると、ログインできるようになります。",
                    )
                else:
                    change_staff_role(dealer=dealer, staff_id=member.pk, role=role)
                    messages.success(
                        request, f"{member.name} 様の役割を変更しました。次の操作から変わります。"
                    )
                return redirect("dealers:staff_login", staff_id=member.pk)
        except (DealerError, MailLimitError) as exc:
            if not form.is_bound:  # "end" or an unknown action: the message alone, on the form
                form = StaffLoginRoleForm({"role": member.login_role or "technician"})
                form.is_valid()
            form.add_error(None, exc.message)
    member = selectors.staff_member(dealer=dealer, staff_id=staff_id) or member
    is_admin_address = member.email.lower() == dealer.user.email.lower()
    person = dealer.user if is_admin_address else member.user
    return render(
        request,
        "dealers/staff_login.html",
        {
            "dealer": dealer,
            "member": member,
            "form": form,
            "is_admin_address": is_admin_address,
            "records": selectors.person_records(dealer=dealer, user=person),
            "records_max": selectors.PERSON_RECORDS_SHOWN,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def staff_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation's link: public, since the staff member has no password yet."""
    found: AccountToken | None = find_token(
        raw=token, purpose=AccountToken.Purpose.STAFF_INVITATION
    )
    try:
        member = invitation_for(found)
        check_address(member)
    except DealerError as exc:
        return render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    form = StaffLoginAcceptForm(request.POST or None, email=member.email)
    if request.method == "POST" and form.is_valid():
        try:
            accept_staff_login(
                token=found,
                password=form.cleaned_data["password"],
                client_address=client_address(request),
            )
        except DealerError as exc:
            return render(
                request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
            )
        messages.success(
            request,
            "パスワードを設定しました。メールアドレスと設定したパスワードでログインしてください。",
        )
        return redirect("accounts:login")
    return render(
        request,
        "dealers/staff_accept.html",
        {
            "form": form,
            "member": member,
            "terms": account_selectors.terms_in_force(TermsVersion.Audience.DEALER),
        },
        status=400 if form.errors else 200,
    )
