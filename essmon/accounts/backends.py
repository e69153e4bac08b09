from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from essmon.accounts import selectors
from essmon.accounts.models import User
from essmon.accounts.services.login import LoginRefused, guard_login
from essmon.core.http import client_address

REFUSAL_ATTRIBUTE = "essmon_login_refusal"


class EmailBackend(ModelBackend):
    """Log in by mail address, matched exactly as typed (the product's rule: IDs are case-sensitive)."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email or username
        if not email or password is None:
            return None
        user = selectors.account_with_login(email=email)
        if user is None:
            User().set_password(password)  # same cost as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class LimitedEmailBackend(EmailBackend):
    """EmailBackend behind the login limits (accounts.services.login.guard_login), so that every
    way in — both sites' login pages, the admin's, a current-password check, anything
    calling ``django.contrib.auth.authenticate`` — counts and locks by one rule.

    A refused login raises PermissionDenied, which makes ``authenticate`` return None
    without asking another backend; the reason for people is left on the request
    (``login_refusal``). Called without a request, all such calls share one client
    address, so they are limited together rather than not at all.
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email or username
        if not email or password is None:
            return None
        check_password = super().authenticate
        try:
            return guard_login(
                email=email,
                client_address=client_address(request) if request is not None else "",
                check=lambda: check_password(request, email=email, password=password),
            )
        except LoginRefused as exc:
            if request is not None:
                setattr(request, REFUSAL_ATTRIBUTE, exc.message)
            raise PermissionDenied(exc.message) from exc


def login_refusal(request) -> str | None:
    """Why the last ``authenticate`` on this request refused without checking, if it did."""
    return getattr(request, REFUSAL_ATTRIBUTE, None)
