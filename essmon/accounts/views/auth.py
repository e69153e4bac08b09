"""Login, logout, password reset by mail, and the unlock link of a locked account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic.edit import FormView

from essmon.accounts import selectors
from essmon.accounts.backends import login_refusal
from essmon.accounts.forms import LoginForm, show_password_rules
from essmon.accounts.models import AccountToken
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.login import (
    LOGIN_FAILED,
    clear_lock_after_password_reset,
    unlock_account,
)
from essmon.accounts.tokens import find_token
from essmon.core.http import client_address
from essmon.core.text import SafeTextMixin
from essmon.notifications.services import MailLimitError, allow_mail_to_typed_address, queue_mail


@require_http_methods(["GET", "POST"])
def login_view(
    request: HttpRequest,
    *,
    template: str = "accounts/auth/login.html",
    default_next: str = "accounts:menu",
) -> HttpResponse:
    """Both sites' login (the product's モニタリングサイト has a login page of its own for the
    same account): ``template`` is the page, ``default_next`` where a login lands."""
    if request.user.is_authenticated:
        return redirect(default_next)
    form = LoginForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password"]
        # the backend counts, locks and limits (one rule for every login page)
        user = authenticate(request, email=email, password=password)
        if user is None:
            form.add_error(None, login_refusal(request) or LOGIN_FAILED)
        else:
            # Whatever an earlier visitor of this browser left half-done (a registration
            # with its gateway password, say) must not become this user's.
            request.session.flush()
            login(request, user)
            if not url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                next_url = ""
            return redirect(next_url or default_next)
    return render(request, template, {"form": form, "next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "ログアウトしました。")
    return redirect("accounts:login")


class OutboxPasswordResetForm(SafeTextMixin, PasswordResetForm):
    """Django's reset form, but the mail goes through the outbox like every other mail."""

    def get_users(self, email):
        return selectors.active_accounts(email=email)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        queue_mail(
            recipient=to_email,
            kind="password_reset",
            context={"user": context["user"], "uid": context["uid"], "token": context["token"]},
        )


class UnlockingSetPasswordForm(SafeTextMixin, SetPasswordForm):
    """A reset password also lifts a login lock: the mail proved the owner. The rules
    stand next to the new password, and a refusal is said there too (Django's form puts
    it under the confirmation)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        show_password_rules(self.fields["new_password1"])
        self.fields[
            "new_password2"
        ].help_text = "確認のため、同じパスワードをもう一度入力してください。"

    def validate_password_for_user(self, user, password_field_name="new_password1"):
        super().validate_password_for_user(user, "new_password1")

    def save(self, commit=True):
        user = super().save(commit)
        clear_lock_after_password_reset(user=user)
        return user


class LimitedPasswordResetView(auth_views.PasswordResetView):
    """Django's reset view under the limits of every mail to a typed address; counted
    whether or not the address has an account, so a refusal tells nothing either."""

    def form_valid(self, form):
        try:
            allow_mail_to_typed_address(
                recipient=form.cleaned_data["email"], client_address=client_address(self.request)
            )
        except MailLimitError as exc:
            form.add_error(exc.field, exc.message)
            return self.form_invalid(form)
        return super().form_valid(form)


password_reset = LimitedPasswordResetView.as_view(
    form_class=OutboxPasswordResetForm,
    template_name="accounts/auth/password_reset.html",
    success_url=reverse_lazy("accounts:password_reset_sent"),
)
password_reset_sent = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/auth/password_reset_sent.html"
)


class SessionlessPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view moves the token into the session and redirects to …/set-password/,
    so that it leaves the address bar; the session row then holds a live reset token in
    plain text until the session expires. Here the form is served on the mailed URL itself
    and nothing of the token is kept: the POST carries it in its path again. The token
    stays out of logs (essmon.core.redact) and of other sites (the pages load nothing
    from elsewhere, and the referrer policy is same-origin)."""

    @method_decorator(sensitive_post_parameters())
    @method_decorator(never_cache)
    def dispatch(self, request, *args, **kwargs):
        self.user = self.get_user(kwargs["uidb64"])
        token = kwargs["token"]
        self.validlink = (
            self.user is not None
            and token != self.reset_url_token
            and self.token_generator.check_token(self.user, token)
        )
        if not self.validlink:
            return self.render_to_response(self.get_context_data())
        return FormView.dispatch(self, request, *args, **kwargs)

    def form_valid(self, form):
        form.save()  # the new password voids the token: the link works once
        return FormView.form_valid(self, form)


password_reset_confirm = SessionlessPasswordResetConfirmView.as_view(
    form_class=UnlockingSetPasswordForm,
    template_name="accounts/auth/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/auth/password_reset_complete.html"
)


@require_GET
def unlock(request: HttpRequest, token: str) -> HttpResponse:
    try:
        unlock_account(token=find_token(raw=token, purpose=AccountToken.Purpose.UNLOCK))
    except AccountError as exc:
        return render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    messages.success(request, "アカウントのロックを解除しました。ログインしてください。")
    return redirect("accounts:login")
