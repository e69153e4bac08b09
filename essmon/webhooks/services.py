"""Webhooks, written: endpoints registered and changed, events recorded with one delivery
per subscribed endpoint (a transactional outbox, as the mails'), and the deliveries sent
by the task worker with retries, pauses and a log (docs/webhooks.md).

An event is written in the transaction of the change it reports (the receivers run inside
the sender's transaction), so a rolled-back change tells nobody and a committed one always
has its deliveries on record; the task is enqueued once the transaction commits."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.core import sealing, tasks, throttle
from essmon.core.once import already_made
from essmon.core.sealing import InvalidToken
from essmon.dealers.models import Dealer, DealerLink
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail
from essmon.webhooks import events, signing
from essmon.webhooks.models import (
    RESPONSE_SNIPPET_MAX,
    Attempt,
    Delivery,
    Endpoint,
    Event,
)
from essmon.webhooks.urlcheck import Resolver, UrlRefused, resolve_public, system_resolver

logger = logging.getLogger(__name__)

SECRET_SEAL = "webhook secret"
MAX_ENDPOINTS = 10
TESTS_PER_HOUR = 10
# and per customer or dealer, all its endpoints together: an endpoint deleted and added
# again is a new endpoint with a fresh count, the holder is not
TESTS_PER_HOUR_PER_HOLDER = 30
# registrations tried a day per holder, refused ones included: each resolves a host name
# the user typed, so the form must not become a way to make essmon look names up at will
ADDS_PER_DAY = 20
ADD_LIMIT = (
    "送信先の登録が続いたため、しばらく受け付けを停止しています。明日以降に再度お試しください。"
)
STALE_SENDING_AFTER = timedelta(minutes=10)
RETRY_BASE = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
READ_AT_MOST = 4096  # bytes of an answer read; the log keeps RESPONSE_SNIPPET_MAX characters
USER_AGENT = "essmon-webhooks/1"
GONE = "gone"  # what deliver() says of a delivery deleted with its endpoint


class WebhookError(Exception):
    """A change refused; ``message`` is for people, ``field`` the form field it belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Holder:
    """Whose endpoints: a customer's (``owner``) or a dealer's (``dealer``)."""

    owner: User | None = None
    dealer: Dealer | None = None

    def key(self) -> str:
        """The holder in a throttle's key."""
        if self.dealer is not None:
            return f"dealer:{self.dealer.pk}"
        assert self.owner is not None
        return f"owner:{self.owner.pk}"

    def endpoints(self) -> Any:
        if self.owner is not None:
            return Endpoint.objects.filter(owner=self.owner)
        return Endpoint.objects.filter(dealer=self.dealer)

    @property
    def email(self) -> str:
        if self.owner is not None:
            return self.owner.email
        assert self.dealer is not None
        return self.dealer.user.email


def holder_of(endpoint: Endpoint) -> Holder:
    if endpoint.owner_id is not None:
        return Holder(owner=endpoint.owner)
    return Holder(dealer=endpoint.dealer)


# --- endpoints -----------------------------------------------------------------------------


def seal_secret(secret: str) -> str:
    return sealing.seal(secret, purpose=SECRET_SEAL)


def unseal_secret(endpoint: Endpoint) -> str:
    """The endpoint's signing secret; InvalidToken when the secret key changed since."""
    return sealing.unseal(endpoint.secret_sealed, purpose=SECRET_SEAL)


def _check_types(event_types: list[str]) -> list[str]:
    chosen = [t for t in events.EVENT_TYPES if t in set(event_types)]
    if not chosen or len(chosen) != len(set(event_types)):
        raise WebhookError("受け取るイベントを1つ以上選んでください。", field="event_types")
    return chosen


def create_endpoint(
    *,
    holder: Holder,
    url: str,
    event_types: list[str],
    description: str = "",
    form_once: str = "",
    resolve: Resolver = system_resolver,
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it and its signing secret, which is shown once.
    ``form_once`` is the page's one-time value: the same form sent again (a reload of the
    page showing the secret) registers nothing a second time. At most ADDS_PER_DAY tries a
    day per holder, counted before the host name is resolved."""
    if throttle.take_each(
        [throttle.Allowance(f"webhook-add:{holder.key()}", ADDS_PER_DAY, timedelta(days=1))]
    ):
        raise WebhookError(ADD_LIMIT)
    try:
        resolve_public(url, resolve=resolve)
    except UrlRefused as exc:
        raise WebhookError(str(exc), field="url") from exc
    chosen = _check_types(event_types)
    secret = signing.make_secret()
    with transaction.atomic():
        # the holder's row is locked so that two registrations cannot both take the last place
        if holder.owner is not None:
            User.objects.select_for_update().filter(pk=holder.owner.pk).first()
        else:
            Dealer.objects.select_for_update().filter(pk=holder.dealer.pk).first()  # type: ignore[union-attr]
        if already_made(holder.endpoints(), form_once):
            raise WebhookError(
                "この送信先は登録済みです(同じ画面から2回送信されました)。"
                "署名用シークレットは登録した画面に一度だけ表示します。"
                "控えていない場合は、送信先の詳細でシークレットを再発行してください。"
            )
        if holder.endpoints().count() >= MAX_ENDPOINTS:
            raise WebhookError(
                f"送信先は{MAX_ENDPOINTS}件まで登録できます。使わない送信先を削除してください。"
            )
        endpoint = Endpoint.objects.create(
            owner=holder.owner,
            dealer=holder.dealer,
            url=url,
            event_types=chosen,
            description=description,
            secret_sealed=seal_secret(secret),
            form_once=form_once,
        )
    logger.info("webhook endpoint %s registered", endpoint.pk)
    return endpoint, secret


def rotate_secret(*, endpoint: Endpoint, now: datetime | None = None) -> str:
    """A new signing secret, shown once; deliveries from now on are signed with it."""
    secret = signing.make_secret()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        secret_sealed=seal_secret(secret), secret_rotated_at=now or timezone.now()
    )
    return secret


def set_enabled(*, endpoint: Endpoint, enabled: bool) -> None:
    """Disabled: no new event is recorded for it, and what was waiting is held. Enabled
    again: what was held goes out."""
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=enabled)
    if enabled:
        _release_held(endpoint.pk)


def delete_endpoint(*, endpoint: Endpoint) -> None:
    Endpoint.objects.filter(pk=endpoint.pk).delete()


def resume_endpoint(*, endpoint: Endpoint) -> int:
    """再開: a paused endpoint takes events again, and what was held is sent (oldest first
    enqueued; deliveries may still arrive in any order). Returns how many were held."""
    Endpoint.objects.filter(pk=endpoint.pk).update(paused_at=None, failing_since=None)
    return _release_held(endpoint.pk)


def _release_held(endpoint_id: int) -> int:
    with transaction.atomic():
        held = list(
            Delivery.objects.filter(endpoint_id=endpoint_id, state=Delivery.State.HELD).values_list(
                "pk", flat=True
            )
        )
        now = timezone.now()
        Delivery.objects.filter(pk__in=held).update(
            state=Delivery.State.PENDING, next_attempt_at=now
        )
        for pk in sorted(held):
            transaction.on_commit(partial(_enqueue, pk))
    return len(held)


TEST_LIMIT = "テスト送信が続いたため、しばらく受け付けを停止しています。1時間ほどおいてから再度お試しください。"


def send_test(*, endpoint: Endpoint, now: datetime | None = None) -> Event:
    """A ``test`` event to this endpoint alone (whatever types it chose), counted: at most
    TESTS_PER_HOUR an hour per endpoint and TESTS_PER_HOUR_PER_HOLDER per holder, so the
    page cannot be used to flood an address, not even by deleting and adding it again."""
    holder = f"dealer:{endpoint.dealer_id}" if endpoint.dealer_id else f"owner:{endpoint.owner_id}"
    hour = timedelta(hours=1)
    if throttle.take_each(
        [
            throttle.Allowance(f"webhook-test:{endpoint.pk}", TESTS_PER_HOUR, hour),
            throttle.Allowance(f"webhook-test-holder:{holder}", TESTS_PER_HOUR_PER_HOLDER, hour),
        ]
    ):
        raise WebhookError(TEST_LIMIT)
    now = now or timezone.now()
    with transaction.atomic():
        event = _create_event(
            type=events.TEST,
            gateway=None,
            data={"message": "essmon からのテスト送信です。"},
            endpoints=[endpoint],
            now=now,
        )
    return event


# --- events --------------------------------------------------------------------------------


def _subscribed(query: Any, type: str) -> list[Endpoint]:
    # few rows (at most MAX_ENDPOINTS per holder): the type is checked here, in Python,
    # since SQLite has no JSON containment
    return [e for e in query if type in e.event_types]


def endpoints_for(
    *,
    gateway: Gateway,
    type: str,
    owner: User | bool | None = True,
    dealer_ids: set[int] | None = None,
) -> list[Endpoint]:
    """The enabled endpoints that receive ``type`` for ``gateway`` now: its owner's (a
    customer, its gateway registered) and those of the dealers linked to it at this moment
    (dealers.access's rule: a dealer sees what is linked to it now). ``owner`` and
    ``dealer_ids`` name the audience instead, for the link events."""
    if owner is True:
        owner = gateway.owner if gateway.state == Gateway.State.CLAIMED else None
    if dealer_ids is None:
        dealer_ids = set(
            DealerLink.objects.filter(gateway=gateway, ended_at__isnull=True).values_list(
                "dealer_id", flat=True
            )
        )
    who = Q(dealer_id__in=dealer_ids, dealer__user__is_active=True)
    if isinstance(owner, User) and owner.role == User.Role.CUSTOMER and owner.is_active:
        who |= Q(owner=owner)
    return _subscribed(Endpoint.objects.filter(who, enabled=True).order_by("pk"), type)


def with_endpoints(gateway_ids: list[int]) -> list[Gateway]:
    """Those of these gateways that some enabled endpoint may hear of (their owner's or a
    linked dealer's): one query, so that a thousand gateways back at once after an outage
    cost one look-up, not two each."""
    owners = Endpoint.objects.filter(owner=OuterRef("owner"), enabled=True, owner__is_active=True)
    dealers = Endpoint.objects.filter(
        dealer__links__gateway=OuterRef("pk"),
        dealer__links__ended_at__isnull=True,
        dealer__user__is_active=True,
        enabled=True,
    )
    return list(
        Gateway.objects.select_related("owner")
        .filter(pk__in=gateway_ids)
        .filter(Q(Exists(owners), state=Gateway.State.CLAIMED) | Q(Exists(dealers)))
        .order_by("pk")
    )


def record_event(
    *,
    type: str,
    gateway: Gateway,
    data: dict[str, Any],
    now: datetime | None = None,
    owner: User | bool | None = True,
    dealer_ids: set[int] | None = None,
) -> Event | None:
    """Write the event and one delivery per endpoint that receives it, in the caller's
    transaction; nothing at all when nobody does (most events of most gateways)."""
    endpoints = endpoints_for(gateway=gateway, type=type, owner=owner, dealer_ids=dealer_ids)
    if not endpoints:
        return None
    return _create_event(
        type=type,
        gateway=gateway,
        data={"gateway_id": gateway.gateway_id, **data},
        endpoints=endpoints,
        now=now or timezone.now(),
    )


def _create_event(
    *,
    type: str,
    gateway: Gateway | None,
    data: dict[str, Any],
    endpoints: list[Endpoint],
    now: datetime,
) -> Event:
    event = Event(type=type, gateway=gateway, created_at=now, payload={})
    event.payload = {"id": event.webhook_id, **events.envelope(type=type, timestamp=now, data=data)}
    event.save()
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            event=event,
            endpoint=endpoint,
            created_at=now,
            next_attempt_at=now,
            state=Delivery.State.HELD if endpoint.is_paused else Delivery.State.PENDING,
        )
        for endpoint in endpoints
    )
    for delivery in deliveries:
        if delivery.state == Delivery.State.PENDING:
            transaction.on_commit(partial(_enqueue, delivery.pk))
    return event


# --- delivery ------------------------------------------------------------------------------


def _enqueue(delivery_id: int, run_after: datetime | None = None) -> None:
    from essmon.webhooks.tasks import deliver_webhook

    tasks.enqueue(deliver_webhook, delivery_id, run_after=run_after)


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most an hour."""
    delay: timedelta = RETRY_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_BACKOFF)


def pause_after() -> timedelta:
    return timedelta(hours=settings.WEBHOOK_PAUSE_AFTER_HOURS)


def body_of(event: Event) -> bytes:
    return json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str
    duration_ms: int
    snippet: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return text[:RESPONSE_SNIPPET_MAX]


def post(*, url: str, body: bytes, headers: dict[str, str], resolve: Resolver) -> Answer:
    """POST ``body`` to ``url``, connecting to the address checked just now (not to a
    second resolution of the name), without following redirects; the answer's code and
    first bytes, or why there was none."""
    started = time.monotonic()

    def answer(status: int | None, error: str, snippet: str = "") -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(status, error[:300], elapsed, snippet)

    try:
        target = resolve_public(url, resolve=resolve)
    except UrlRefused as exc:
        return answer(None, f"送信を止めました: {exc}")
    address = f"[{target.address}]" if ":" in target.address else target.address
    default = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would resolve the name again
        ) as client:
            request = client.build_request(
                "POST",
                f"{target.scheme}://{address}:{target.port}{target.path}",
                content=body,
                headers={
                    **headers,
                    "Host": host_header,
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                },
                extensions={"sni_hostname": target.host},
            )
            response = client.send(request, stream=True)
            try:
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    # the code is what counts; a body trickling in is not waited for
                    if len(raw) >= READ_AT_MOST or time.monotonic() - started > timeout:
                        break
            finally:
                response.close()
    except httpx.TimeoutException:
        return answer(None, f"タイムアウト({timeout:g}秒)")
    except httpx.HTTPError as exc:
        return answer(None, f"接続エラー: {type(exc).__name__}: {exc}")
    return answer(response.status_code, "", _snippet(raw[:READ_AT_MOST]))


CANCELLED_ERROR = (
    "送信を取りやめました: このゲートウェイのイベントを受け取れなくなりました"
    "(保守紐付けの終了・名義変更など)"
)


def may_still_hear(*, endpoint: Endpoint, event: Event) -> bool:
    """Whether the endpoint's holder may still hear of the event's gateway when it is
    sent: the audience is chosen when the event happens (endpoints_for), but a delivery
    may go out hours later (retries, a pause), and by then a dealer may have been
    unlinked or an owner have sold the system. The link events keep the audience they
    were written for (the ended link's dealer, the seller): they are about the link."""
    if event.gateway_id is None or event.type in (events.LINK_ADDED, events.LINK_ENDED):
        return True
    if endpoint.dealer_id is not None:
        return DealerLink.objects.filter(
            gateway_id=event.gateway_id,
            dealer_id=endpoint.dealer_id,
            ended_at__isnull=True,
            dealer__user__is_active=True,
        ).exists()
    return Gateway.objects.filter(
        pk=event.gateway_id,
        owner_id=endpoint.owner_id,
        owner__is_active=True,
        state=Gateway.State.CLAIMED,
    ).exists()


def deliver(*, delivery_id: int, resolve: Resolver = system_resolver) -> str:
    """Try one delivery; returns its state afterwards ("not-due" when another worker has
    it or it is not due). The conditional UPDATE to ``sending`` is the claim: a delivery
    enqueued twice, or taken by two workers, is sent once."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now
    ).update(state=Delivery.State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "not-due"
    delivery = Delivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:  # its endpoint deleted just now
        return GONE
    endpoint = delivery.endpoint
    if not may_still_hear(endpoint=endpoint, event=delivery.event):
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.CANCELLED,
            claimed_at=None,
            attempts=F("attempts") - 1,
            last_error=CANCELLED_ERROR,
        )
        return Delivery.State.CANCELLED
    if not endpoint.enabled or endpoint.is_paused:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.HELD, claimed_at=None, attempts=F("attempts") - 1
        )
        return Delivery.State.HELD
    try:
        secret = unseal_secret(endpoint)
    except InvalidToken:
        answer = Answer(
            None, "署名用シークレットを復号できません(シークレットを再発行してください)", 0, ""
        )
    else:
        body = body_of(delivery.event)
        stamp = int(now.timestamp())
        answer = post(
            url=endpoint.url,
            body=body,
            headers=signing.headers(
                secret=secret, msg_id=delivery.event.webhook_id, timestamp=stamp, body=body
            ),
            resolve=resolve,
        )
    with transaction.atomic():
        # the endpoint may have been deleted while the request was out: its log went
        # with it, and this answer has nowhere to be written
        if not Delivery.objects.select_for_update().filter(pk=delivery.pk).exists():
            return GONE
        Attempt.objects.create(
            delivery=delivery,
            at=now,
            status=answer.status,
            error=answer.error,
            duration_ms=answer.duration_ms,
            response_snippet=answer.snippet,
        )
    if answer.ok:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.DELIVERED,
            delivered_at=timezone.now(),
            claimed_at=None,
            last_status=answer.status,
            last_error="",
        )
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(
            failing_since=None
        )
        return Delivery.State.DELIVERED
    return _failed(delivery, answer, now=now)


def _failed(delivery: Delivery, answer: Answer, *, now: datetime) -> str:
    endpoint = delivery.endpoint
    error = answer.error or f"応答コード {answer.status}"
    logger.warning(
        "webhook delivery %s (endpoint %s) attempt %s failed: %s",
        delivery.pk,
        endpoint.pk,
        delivery.attempts,
        error,
    )
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    failing_since = (
        Endpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    )
    row = Delivery.objects.filter(pk=delivery.pk)
    common = {"claimed_at": None, "last_status": answer.status, "last_error": error[:300]}
    if failing_since is not None and failing_since <= now - pause_after():
        _pause(endpoint, now=now)
        row.update(state=Delivery.State.HELD, **common)
        return Delivery.State.HELD
    if delivery.created_at <= now - pause_after():
        # the endpoint takes other events (it is not failing throughout), but never this one
        row.update(state=Delivery.State.FAILED, **common)
        return Delivery.State.FAILED
    next_at = now + backoff(delivery.attempts)
    row.update(state=Delivery.State.PENDING, next_attempt_at=next_at, **common)
    _enqueue(delivery.pk, run_after=next_at)
    return Delivery.State.PENDING


PAUSED_MAIL = "webhook_paused"


def _pause(endpoint: Endpoint, *, now: datetime) -> None:
    """Hold everything waiting for the endpoint and mail its holder, once per pause."""
    with transaction.atomic():
        paused = Endpoint.objects.filter(pk=endpoint.pk, paused_at__isnull=True).update(
            paused_at=now
        )
        Delivery.objects.filter(endpoint_id=endpoint.pk, state=Delivery.State.PENDING).update(
            state=Delivery.State.HELD
        )
        if not paused:
            return
        endpoint = Endpoint.objects.select_related("owner", "dealer__user").get(pk=endpoint.pk)
        holder = holder_of(endpoint)
        queue_mail(
            recipient=holder.email,
            kind=PAUSED_MAIL,
            context={
                "endpoint": endpoint,
                "customer": endpoint.owner,
                "dealer": endpoint.dealer,
                "hours": settings.WEBHOOK_PAUSE_AFTER_HOURS,
                "page": reverse(
                    "webhooks:dealer_endpoint" if endpoint.dealer_id else "webhooks:endpoint",
                    kwargs={"endpoint_id": endpoint.pk},
                ),
            },
        )
    logger.warning("webhook endpoint %s paused after failing since %s", endpoint.pk, now)


def requeue_due_deliveries() -> int:
    """Safety net run by the scheduler: deliveries left in ``sending`` by a worker that died
    go back to the queue, and due deliveries whose task was lost are enqueued again."""
    now = timezone.now()
    Delivery.objects.filter(
        state=Delivery.State.SENDING, claimed_at__lt=now - STALE_SENDING_AFTER
    ).update(state=Delivery.State.PENDING, claimed_at=None)
    due = list(
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for pk in due:
        _enqueue(pk)
    return len(due)


def purge_deliveries(now: datetime | None = None) -> int:
    """Periodic job: the log of deliveries ended (delivered, given up, cancelled) more than
    ESSMON_WEBHOOK_LOG_RETENTION_DAYS ago goes, with their attempts, and the events no
    delivery refers to any more (an event is written with its deliveries, so one without
    any lost them to this purge or to its endpoints' deletion, such as a 退会's). Held and
    waiting deliveries stay whatever their age."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    deleted, _ = Delivery.objects.filter(
        state__in=(Delivery.State.DELIVERED, Delivery.State.FAILED, Delivery.State.CANCELLED),
        created_at__lt=cutoff,
    ).delete()
    Event.objects.filter(deliveries__isnull=True).delete()
    return deleted
