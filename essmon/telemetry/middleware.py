"""The gateways' HTTPS API past the browser's middleware (docs/architecture.md, "Response
headers"; docs/performance.md, "Issue 16: the batch step and the HTTPS request")."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.middleware.common import CommonMiddleware
from django.urls import Resolver404, resolve

# The gateway protocol's paths (protocol section 3); the people's API is /api/public/v1/.
PREFIX = "/api/v1/"
MARK = "gateway_protocol"


def gateway_protocol(view: Callable) -> Callable:
    """Mark a view as one of the gateway protocol's, for GatewayProtocolMiddleware."""
    setattr(view, MARK, True)
    return view


class GatewayProtocolMiddleware:
    """A request for a view of the gateway protocol goes straight to it from here.

    Gateways authenticate every request with their device secret and read JSON: sessions,
    CSRF (their views are exempt), the logged-in user, messages, htmx, the terms' agreement
    and the Content-Security-Policy (which only a browser rendering HTML reads) have
    nothing to do there, and cost a fifth of a millisecond a request. What the middleware
    above this one does still applies to these answers (the security headers and HTTPS
    redirect, ``Cache-Control: private, no-store``, ``X-Frame-Options``), and
    CommonMiddleware's checks run here as they would below (the host against
    ALLOWED_HOSTS, the user agents; Content-Length on the answer). Anything else, including
    a path under the prefix whose view is not marked, takes the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:  # the catch-all under /api/ answers these; in case it goes
            return self.get_response(request)
        if not getattr(match.func, MARK, False):
            return self.get_response(request)
        refusal = self.common.process_request(request)
        if refusal is not None:
            return refusal
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        return self.common.process_response(request, response)
