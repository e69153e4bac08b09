"""The 500 page, with the support contact on it.

Django's own handler renders ``500.html`` with an empty context, so the page could not say
whom to call. This one adds only what comes from the settings (no request, no context
processors, no database: whatever failed may fail again), and falls back to plain text
should even that not render.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

from essmon.core.contact import support_contact

logger = logging.getLogger(__name__)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        body = loader.get_template("500.html").render({"support": support_contact()})
    except Exception:  # the page must come whatever broke
        logger.exception("the 500 page could not be rendered")
        return HttpResponseServerError(
            "ただいま表示できません。しばらくしてから再度お試しください。",
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponseServerError(body)
