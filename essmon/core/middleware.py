"""Headers that every response of essmon's own views carries."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """``Cache-Control: private, no-store`` on every response that reaches Django.

    Nearly all of them carry personal data (monitoring pages, CSV, JSON, PDF, account and
    dealer pages, the admin, confirm pages echoing what a visitor typed), and even the
    public pages name the logged-in person in their header. A rule with exceptions would
    be one that a new view could fall on the wrong side of, so there are none: no browser,
    proxy or back button keeps a copy. Static files never get here: WhiteNoise, above
    this in MIDDLEWARE, answers them with their own long-lived caching.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response
