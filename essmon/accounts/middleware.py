"""Terms that change: a customer or dealer with a version in force not yet agreed to is sent
to the agreement page before anything else, on the first request after the version takes
effect, whether they just logged in or were logged in already."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from essmon.accounts import selectors
from essmon.accounts.models import User

# What a person who has not agreed may still do: leave (logout, 退会 with the data export
# first) and read and answer the agreement page.
OPEN_VIEWS = frozenset(
    {
        "accounts:logout",
        "accounts:terms_renewal",
        "accounts:terms_declined",
        "privacy:data_export",
        "privacy:withdraw",
        "privacy:withdrawn",
    }
)
# The logged-in pages' JSON endpoints, which answer JSON whatever the request accepts.
JSON_VIEWS = frozenset({"monitoring:history_data", "accounts:postal_lookup"})
# The gateways' API authenticates gateways, never a person's session.
API_PREFIX = "/api/"
TERMS_NOT_AGREED = (
    "利用規約が改定されました。画面を再読み込みし、改定後の利用規約に同意してください。"
)


class TermsAgreementMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        if isinstance(user, User) and user.role in selectors.AUDIENCE_OF_ROLE:
            view_name = _view_name(request.path_info)
            if (
                view_name is not None
                and view_name not in OPEN_VIEWS
                and selectors.has_terms_to_agree(user=user)
            ):
                return _ask(request, view_name)
        return self.get_response(request)


def _view_name(path: str) -> str | None:
    """The view ``path`` names, or None where the agreement is not asked: the gateways' API,
    static files, and a path naming nothing (the 404 page gives nothing away)."""
    if path.startswith((API_PREFIX, "/" + settings.STATIC_URL.lstrip("/"))):
        return None
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def _ask(request: HttpRequest, view_name: str) -> HttpResponseBase:
    url = reverse("accounts:terms_renewal")
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    if getattr(request, "htmx", False):
        # a fragment swapped into a page would show the agreement page inside it: htmx
        # loads the whole page instead
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    if (
        view_name in JSON_VIEWS
        or "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    ):
        return JsonResponse(
            {"error": TERMS_NOT_AGREED, "code": "terms_not_agreed", "agree_url": url},
            status=403,
            json_dumps_params={"ensure_ascii": False},
        )
    return redirect(url)
