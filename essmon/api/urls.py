"""The public API's URLs, mounted at /api/public/v1/ (essmon/urls.py): ninja's operations,
the OpenAPI document and the reference page, and after them every other path below the
prefix, answered as a problem like every error of the API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from csp.decorators import csp_update
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from essmon.api.app import NAMESPACE, ROUTERS, api
from essmon.api.problems import CONTENT_TYPE, ApiProblem, not_found, problem_response


def _operations() -> dict[str, Callable[..., Any]]:
    """Each operation's function by its URL name."""
    return {
        getattr(operation, "url_name", None) or operation.view_func.__name__: operation.view_func
        for _, router in ROUTERS
        for path_view in router.path_operations.values()
        for operation in path_view.operations
    }


def _problem_for_405(
    view: Callable[..., HttpResponseBase], operation: Callable[..., Any] | None
) -> Callable[..., HttpResponseBase]:
    """ninja answers a method no operation of a path takes with a plain-text 405 before
    any handler runs: that answer becomes a problem, its ``Allow`` header kept. The
    wrapper bears the operation's name, so the URL table (docs/architecture.md) and the
    access matrix name the function that answers."""

    # ninja's document views are partials
    named: Callable[..., Any] = operation if operation is not None else getattr(view, "func", view)

    @wraps(named)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "HEAD":
            return _head(view, request, *args, **kwargs)
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and response.get("Content-Type") != CONTENT_TYPE:
            allow = response.get("Allow", "")
            response = problem_response(
                request,
                ApiProblem(
                    405,
                    "method-not-allowed",
                    f"{request.method} is not allowed here; allowed: {allow}.",
                    headers={"Allow": allow},
                ),
            )
        return response

    # ninja's views take no session, so no CSRF token either (a bearer token is not sent
    # by a browser on its own)
    return csrf_exempt(wrapper)


def _head(
    view: Callable[..., HttpResponseBase], request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    """HEAD, which every server must take where it takes GET (RFC 9110, 9.3.2) and ninja
    does not: the GET's answer, token check and limits included, without its body."""
    request.method = "GET"
    try:
        response = view(request, *args, **kwargs)
    finally:
        request.method = "HEAD"
    if response.status_code == 405:
        return problem_response(
            request,
            ApiProblem(
                405,
                "method-not-allowed",
                f"HEAD is not allowed here; allowed: {response.get('Allow', '')}.",
                headers={"Allow": response.get("Allow", "")},
            ),
        )
    if isinstance(response, HttpResponse):
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


@csrf_exempt
def _not_found(request: HttpRequest, rest: str) -> HttpResponseBase:
    return problem_response(request, not_found("No such operation in the public API v1."))


def _root(request: HttpRequest) -> HttpResponseBase:
    """The API's root (whose name ninja reverses for the document's paths) sends a person
    who opens it to the reference page."""
    return redirect(f"{NAMESPACE}:openapi-view")


# the reference page's Swagger UI draws its icons (a <select>'s arrow, the expand
# chevrons) as data: SVG images in its style sheet; images only, never scripts or styles
REFERENCE_PAGE_CSP = {"img-src": ["data:"]}


def _view(p: URLPattern, operations: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    if p.name == "api-root":
        return _root
    view = _problem_for_405(p.callback, operations.get(p.name or ""))
    if p.name == "openapi-view":
        return csp_update(REFERENCE_PAGE_CSP)(view)
    return view


def _patterns() -> list[URLPattern]:
    patterns, _, _ = api.urls
    operations = _operations()
    wrapped = [
        URLPattern(p.pattern, _view(p, operations), p.default_args, p.name)
        for p in patterns
        if isinstance(p, URLPattern)
    ]
    return [*wrapped, re_path(r"^(?P<rest>.*)$", _not_found)]


urlpatterns = _patterns()
app_name = NAMESPACE
