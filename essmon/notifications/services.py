"""The outbox: every mail is written here in the caller's transaction, then delivered.

Writing the mail in the same transaction as the change it reports means a rolled-back
registration sends nothing, and a committed one always has its mail on record.

A mail's links with a token (activation, password reset, unlock, address confirmation)
open an account to whoever reads them, so they never rest in plain text: ``body`` holds
the mail with those links removed, and the whole mail, needed until it is delivered, is
kept only sealed (Fernet, keyed from the secret key) in ``sealed_body``, which is emptied
once the mail is sent. The admin never shows bodies at all. What stays is that the mail
went out, its kind, recipient, subject and times.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from essmon.core import contact, sealing, tasks, throttle
from essmon.core.redact import secret_values
from essmon.core.sealing import InvalidToken
from essmon.core.text import one_line
from essmon.notifications.models import OutboxMessage

logger = logging.getLogger(__name__)

STALE_SENDING_AFTER = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
SUBJECT_MAX = OutboxMessage._meta.get_field("subject").max_length
REMOVED_LINK = "[送信後に削除したURL]"
# Mails to someone who has left (退会): the address is used for this one mail, then the
# row keeps only that a mail of this kind went out (or could not), never to whom or what.
ERASED_AFTER_SENDING = frozenset({"account_withdrawn"})
ERASED_BODY = "[退会されたお客様へのメールのため、宛先と本文は送信後に削除しました]"
SIGNATURE_TEMPLATE = "notifications/mail/_signature.txt"
_URL_RE = re.compile(r"https?://[^\s<>\"]+")


def queue_mail(*, recipient: str, kind: str, context: dict[str, Any]) -> OutboxMessage:
    """Render ``notifications/mail/<kind>.txt`` (first line: subject) and queue it, with
    the common signature (``_signature.txt``: the sender, the support contact) below."""
    full = {"base_url": settings.BASE_URL, **contact.context(), **context}
    rendered = render_to_string(f"notifications/mail/{kind}.txt", full).lstrip()
    subject, _, body = rendered.partition("\n")
    signature = render_to_string(SIGNATURE_TEMPLATE, full).strip()
    body = f"{body.strip()}\n\n{signature}\n"
    scrubbed = scrub_secret_links(body)
    message = OutboxMessage.objects.create(
        recipient=recipient,
        subject=mail_subject(subject),
        body=scrubbed,
        sealed_body=seal(body) if scrubbed != body else "",
        kind=kind,
    )
    transaction.on_commit(lambda: _enqueue(message.pk))
    return message


def mail_subject(text: str) -> str:
    """A subject that a mail header can carry whatever stored text went into it.

    A CR or LF would make Django refuse the mail as header injection, on every retry.
    """
    return one_line(text)[:SUBJECT_MAX]


def scrub_secret_links(body: str) -> str:
    """``body`` without the links that carry a token (see essmon.core.redact)."""

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        base = settings.BASE_URL.rstrip("/")
        if url.startswith(base + "/") and secret_values(url[len(base) :]):
            return REMOVED_LINK
        return url

    return _URL_RE.sub(replace, body)


# the key's label since sealing began: another would leave queued mails unreadable
OUTBOX_SEAL = "outbox"


def seal(text: str) -> str:
    return sealing.seal(text, purpose=OUTBOX_SEAL)


def unseal(sealed: str) -> str:
    """The sealed text; InvalidToken when the secret key changed since it was sealed."""
    return sealing.unseal(sealed, purpose=OUTBOX_SEAL)


MAIL_TO_RECIPIENT_HELD_BACK = (
    "このメールアドレスには短い間に何度もメールをお送りしているため、しばらく送信を控えています。"
    "お送りしたメールをご確認いただくか、24時間ほどおいてから再度お試しください。"
)
MAIL_FROM_CLIENT_HELD_BACK = (
    "メールの送信を伴うお申し込みが続いたため、しばらく受け付けを停止しています。"
    "1時間ほどおいてから再度お試しください。"
)


class MailLimitError(Exception):
    """A request to mail a typed address, refused by the limits; ``message`` is for people
    and belongs to the form field ``field``."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def allow_mail_to_typed_address(
    *,
    recipient: str,
    client_address: str | None,
    account_id: int | None = None,
    flow: str = "",
    per_recipient_per_day: int | None = None,
    more: Sequence[throttle.Allowance] = (),
) -> None:
    """Count a request that mails an address someone typed (registration, password reset,
    mail change, a 保守担当者), or one chosen by what someone typed (the dealer named by
    a 販売店ID and phone number), or raise MailLimitError and send nothing.

    One rule for every such flow, so that the service cannot be made to flood an address
    or be used as a mailer: per recipient (whatever the flow; counted whether or not a
    mail then goes out, so a refusal tells nothing about who has an account), per client
    address (None: a call with no request behind it), and per account when someone logged
    in asks; ``more`` are a flow's own allowances. A ``flow`` counts its recipients apart,
    with its own daily limit: notices a dealer gets as a matter of course must not use up
    the allowance of the dealer's own password reset. Call it before anything is created:
    a refusal leaves nothing behind.
    """
    digest = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:40]
    per_client = settings.MAIL_REQUESTS_PER_CLIENT_PER_HOUR
    per_day = per_recipient_per_day or settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY
    allowances = [
        throttle.Allowance(
            f"mail:to:{flow}:{digest}" if flow else f"mail:to:{digest}", per_day, timedelta(days=1)
        ),
    ]
    if client_address is not None:
        allowances.append(
            throttle.Allowance(
                f"mail:from:{throttle.address_key(client_address)}", per_client, timedelta(hours=1)
            )
        )
    if account_id is not None:
        allowances.append(
            throttle.Allowance(f"mail:account:{account_id}", per_client, timedelta(hours=1))
        )
    allowances.extend(more)
    spent = throttle.take_each(allowances)
    if spent is None:
        return
    if spent is allowances[0]:
        logger.info("mail to a typed address held back: limit per recipient")
        raise MailLimitError(MAIL_TO_RECIPIENT_HELD_BACK, field="email")
    logger.info("mail to a typed address held back: limit per client (%s)", spent.key)
    raise MailLimitError(MAIL_FROM_CLIENT_HELD_BACK, field=None)


def _enqueue(message_id: int, run_after: datetime | None = None) -> None:
    from essmon.notifications.tasks import deliver_outbox_message

    tasks.enqueue(deliver_outbox_message, message_id, run_after=run_after)


def backoff(attempts: int) -> timedelta:
    delay = timedelta(seconds=settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return min(delay, MAX_BACKOFF)


def deliver_message(*, message_id: int) -> str:
    """Try to send one message; returns its state afterwards.

    The conditional UPDATE to ``sending`` is the claim: when two workers get the same
    message, only one of them sends it.
    """
    now = timezone.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, state=OutboxMessage.State.PENDING, next_attempt_at__lte=now
    ).update(state=OutboxMessage.State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "not-due"
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        body = unseal(message.sealed_body) if message.sealed_body else message.body
    except InvalidToken:
        # sealed under another secret key: its links cannot be recovered, and a mail
        # without them would promise what it cannot do
        error = "the sealed body cannot be opened (ESSMON_SECRET_KEY changed since it was queued)"
        logger.error("outbox %s: %s", message.pk, error)
        OutboxMessage.objects.filter(pk=message.pk).update(
            state=OutboxMessage.State.FAILED, last_error=error, claimed_at=None
        )
        return OutboxMessage.State.FAILED
    mail = EmailMessage(
        subject=message.subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"Auto-Submitted": "auto-generated"},
    )
    try:
        mail.send()
    except Exception as exc:  # SMTP errors come in many classes; all mean "try later"
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            state, next_at = OutboxMessage.State.FAILED, message.next_attempt_at
            logger.error(
                "outbox %s: giving up after %s attempts: %s", message.pk, message.attempts, error
            )
        else:
            state, next_at = OutboxMessage.State.PENDING, timezone.now() + backoff(message.attempts)
            logger.warning("outbox %s: attempt %s failed: %s", message.pk, message.attempts, error)
        OutboxMessage.objects.filter(pk=message.pk).update(
            state=state, last_error=error, next_attempt_at=next_at, claimed_at=None
        )
        if state == OutboxMessage.State.FAILED:
            _erase_if_asked(message)
        if state == OutboxMessage.State.PENDING:
            _enqueue(message.pk, run_after=next_at)
        return state
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxMessage.State.SENT,
        sent_at=timezone.now(),
        last_error="",
        body=scrub_secret_links(message.body),  # rows queued before sealing existed
        sealed_body="",
    )
    _erase_if_asked(message)
    return OutboxMessage.State.SENT


def _erase_if_asked(message: OutboxMessage) -> None:
    if message.kind in ERASED_AFTER_SENDING and message.recipient:
        row = OutboxMessage.objects.filter(pk=message.pk)
        error = row.values_list("last_error", flat=True).first() or ""
        row.update(
            recipient="",
            body=ERASED_BODY,
            sealed_body="",
            # an SMTP refusal often quotes the address
            last_error=re.sub(re.escape(message.recipient), "[宛先]", error, flags=re.IGNORECASE),
        )


def requeue_due_messages() -> int:
    """Safety net run by the scheduler: re-enqueue due messages whose task was lost, and
    return to the queue messages left in ``sending`` by a worker that died mid-send."""
    now = timezone.now()
    OutboxMessage.objects.filter(
        state=OutboxMessage.State.SENDING, claimed_at__lt=now - STALE_SENDING_AFTER
    ).update(state=OutboxMessage.State.PENDING, claimed_at=None)
    due = list(
        OutboxMessage.objects.filter(
            state=OutboxMessage.State.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        _enqueue(pk)
    return len(due)
