"""HTTPS transport for commands (docs/gateway-protocol.md, sections 3.4 and 3.5)."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from essmon.commands.selectors import has_waiting
from essmon.commands.services import (
    MAX_RESULTS_PER_REQUEST,
    as_message,
    hand_out,
    record_results,
)
from essmon.telemetry.api import (
    authenticated_gateway,
    error_response,
    gateway_endpoint,
    ingest_list,
)
from essmon.telemetry.connectivity import note_transport

MAX_WAIT_SECONDS = 30
POLL_EVERY_SECONDS = 0.5
# A long poll holds a web thread. Past this many per process the answer comes at once, so
# gateways waiting for commands can never take every thread from the people using the site.
_long_polls = threading.BoundedSemaphore(settings.LONG_POLLS_PER_PROCESS)


@csrf_exempt  # a wrong method must meet the JSON 405, not the CSRF page
@gateway_endpoint("GET")
def commands(request: HttpRequest) -> JsonResponse:
    gateway = authenticated_gateway(request)
    if gateway is None:
        return error_response(401, "unknown gateway or wrong secret")
    raw_wait = request.GET.get("wait", "0")
    if (
        not raw_wait.isascii()
        or not raw_wait.isdigit()
        or len(raw_wait) > 3  # int() of thousands of digits is slow, then refused
        or int(raw_wait) > MAX_WAIT_SECONDS
    ):
        return error_response(400, f"wait: expected whole seconds from 0 to {MAX_WAIT_SECONDS}")
    wait = int(raw_wait)
    if wait and not has_waiting(gateway) and _long_polls.acquire(blocking=False):
        try:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and not has_waiting(gateway):
                time.sleep(POLL_EVERY_SECONDS)
        finally:
            _long_polls.release()
    handed = hand_out(gateway)
    note_transport([gateway.pk], "https")
    return JsonResponse({"commands": [as_message(c) for c in handed]})


@csrf_exempt  # gateways authenticate with their device secret, not a browser session
@gateway_endpoint("POST")
def results(request: HttpRequest) -> JsonResponse:
    return ingest_list(
        request,
        field="results",
        limit=MAX_RESULTS_PER_REQUEST,
        per="request",
        ingest=lambda gateway, items: record_results(gateway=gateway, results=items),
    )
