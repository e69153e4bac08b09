"""The request type of essmon's screens, for the type checker.

``request.user`` is ``User | AnonymousUser`` on any request; behind ``login_required``
(and the role decorators built on it) it is always essmon's ``User``. Views that
sit behind those decorators take an ``AuthenticatedRequest`` so that mypy knows it.
``htmx`` is set on every request by django-htmx's middleware.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from essmon.accounts.models import User


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedRequest(HtmxRequest):
    user: User
