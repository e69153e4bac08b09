"""HTTPS transport of the gateway protocol (docs/gateway-protocol.md, section 3)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from essmon.gateways.models import Gateway
from essmon.telemetry.connectivity import note_transport
from essmon.telemetry.ingest import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_SAMPLES_PER_BATCH,
    SampleError,
    brief,
    check_samples,
    decode_message,
    decode_sample_batch,
    ingest_events,
    record_status,
    store_sample_batches,
)
from essmon.telemetry.middleware import gateway_protocol
from essmon.telemetry.partitions import oldest_accepted_ts
from essmon.telemetry.selectors import gateway_with_secret

logger = logging.getLogger(__name__)


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def gateway_endpoint(*methods: str):
    """Every gateway endpoint answers JSON, whatever happens (protocol section 3): a method
    it does not take is a 405 saying which it takes, a busy or lost database is a 503 to
    send again after, and a fault of essmon's own with one request is logged and answered
    500 in JSON, never Django's HTML page."""

    def decorate(view: Callable[[HttpRequest], JsonResponse]):
        @wraps(view)
        def answer(request: HttpRequest) -> JsonResponse:
            if request.method not in methods:
                response = error_response(
                    405, f"{brief(request.method)} is not allowed here; use {', '.join(methods)}"
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request)
            except OperationalError as exc:
                # nothing was stored; the gateway sends it again
                logger.warning("%s not stored: %s", request.path, exc)
                response = error_response(503, "temporarily unable to store; send again later")
                response["Retry-After"] = "30"
                return response
            except Exception:
                logger.exception("%s failed", request.path)
                return error_response(
                    500, "essmon could not handle this request; send it again later"
                )

        return gateway_protocol(answer)

    return decorate


@gateway_protocol
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything else under /api/: a JSON 404 naming the documented endpoints."""
    return error_response(
        404, f"no endpoint {brief(request.path, 80)}; see docs/gateway-protocol.md, section 3"
    )


def authenticated_gateway(request: HttpRequest) -> Gateway | None:
    """The gateway named by ``Authorization: Gateway <id>:<secret>``, if the secret is right."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    gateway_id, _, secret = credentials.strip().partition(":")
    if scheme != "Gateway" or not gateway_id or not secret or len(credentials) > 200:
        return None
    return gateway_with_secret(gateway_id, secret)


def _admitted(request: HttpRequest) -> tuple[Gateway | None, JsonResponse | None]:
    """The authenticated gateway of a POST with a JSON body of an acceptable length, or
    the refusal to send back; the body is not read yet."""
    if request.content_type != "application/json":
        return None, error_response(
            415, f"Content-Type must be application/json, not {brief(request.content_type)}"
        )
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    if not raw_length:
        # a chunked body (no Content-Length) would be read as empty: say so, not "not JSON"
        return None, error_response(411, "Content-Length is required (no chunked bodies)")
    try:
        length = int(raw_length)
    except ValueError:
        return None, error_response(400, "Content-Length is not a number")
    if length > MAX_BODY_BYTES:
        return None, error_response(413, f"body is {length} bytes; at most {MAX_BODY_BYTES}")
    gateway = authenticated_gateway(request)
    if gateway is None:
        return None, error_response(401, "unknown gateway or wrong secret")
    return gateway, None


def _decoded(request: HttpRequest, gateway: Gateway) -> tuple[dict | None, JsonResponse | None]:
    """The admitted gateway's JSON object, or the refusal to send back."""
    try:
        body = decode_message(request.body)
    except SampleError as exc:
        return None, error_response(400, str(exc))
    if body.get("gateway_id") != gateway.gateway_id:
        logger.warning(
            "gateway %s posted for %s", gateway.gateway_id, brief(body.get("gateway_id"))
        )
        return None, error_response(403, "gateway_id in the body is not the authenticated gateway")
    return body, None


def _read_message(request: HttpRequest) -> tuple[Gateway | None, dict | None, JsonResponse | None]:
    """The authenticated gateway and its JSON object, or the refusal to send back."""
    gateway, refusal = _admitted(request)
    if gateway is None:
        return None, None, refusal
    body, refusal = _decoded(request, gateway)
    return gateway, body, refusal


def _listed(body: dict, *, field: str, limit: int, per: str) -> tuple[list, JsonResponse | None]:
    """The message's list of items, or the refusal to send back."""
    items = body.get(field)
    if not isinstance(items, list):
        return [], error_response(400, f"{field}: expected a JSON array")
    if len(items) > limit:
        return [], error_response(413, f"{len(items)} {field}; at most {limit} per {per}")
    return items, None


def ingest_list(request: HttpRequest, *, field: str, limit: int, per: str, ingest) -> JsonResponse:
    """A message carrying a list of items (events, results): check it, ingest it, report."""
    gateway, body, refusal = _read_message(request)
    if refusal is not None:
        return refusal
    assert gateway is not None and body is not None  # _read_message gives these or a refusal
    items, refusal = _listed(body, field=field, limit=limit, per=per)
    if refusal is not None:
        return refusal
    result = ingest(gateway=gateway, items=items)
    note_transport([gateway.pk], "https")
    if result.rejected:
        logger.info("gateway %s: %d %s rejected", gateway.gateway_id, len(result.rejected), field)
    return JsonResponse(result.as_dict())


@csrf_exempt  # gateways authenticate with their device secret, not a browser session
@gateway_endpoint("POST")
def telemetry(request: HttpRequest) -> JsonResponse:
    gateway, refusal = _admitted(request)
    if gateway is None:
        assert refusal is not None  # _admitted gives one or the other
        return refusal
    now = timezone.now()
    oldest = oldest_accepted_ts(now)
    # a plainly valid batch is decoded and checked at once; anything else goes the general
    # way, which refuses what must be refused in its own words
    batch = decode_sample_batch(request.body, gateway=gateway, now=now, oldest=oldest)
    if batch is None:
        body, refusal = _decoded(request, gateway)
        if body is None:
            assert refusal is not None
            return refusal
        samples, refusal = _listed(body, field="samples", limit=MAX_SAMPLES_PER_BATCH, per="batch")
        if refusal is not None:
            return refusal
        batch = check_samples(gateway, samples, now=now, oldest=oldest)
    # the transport is noted in the live state's own upsert: no statement of its own
    store_sample_batches([batch], now=now, transport="https")
    result = batch.result
    if result.rejected:
        logger.info("gateway %s: %d samples rejected", gateway.gateway_id, len(result.rejected))
    return JsonResponse(result.as_dict())


@csrf_exempt
@gateway_endpoint("POST")
def status(request: HttpRequest) -> JsonResponse:
    gateway, body, refusal = _read_message(request)
    if refusal is not None:
        return refusal
    assert gateway is not None and body is not None  # _read_message gives these or a refusal
    try:
        record_status(gateway=gateway, raw=body.get("status"))
    except SampleError as exc:
        return error_response(422, str(exc))
    note_transport([gateway.pk], "https")
    return JsonResponse({"ok": True})


@csrf_exempt
@gateway_endpoint("POST")
def events(request: HttpRequest) -> JsonResponse:
    return ingest_list(
        request,
        field="events",
        limit=MAX_EVENTS_PER_BATCH,
        per="request",
        ingest=lambda gateway, items: ingest_events(gateway=gateway, events=items),
    )
