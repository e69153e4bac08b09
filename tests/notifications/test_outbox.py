"""The mail outbox against a real SMTP server (aiosmtpd): delivery, outage, no duplicates."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import deliver_message, queue_mail, requeue_due_messages
from tests import factories
from tests.services import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.smtp]


def queue_one(django_capture_on_commit_callbacks, user=None):
    user = user or factories.customer(email="hanako@example.jp")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_mail(
            recipient=user.email,
            kind="email_changed_notice",
            context={"user": user, "old_email": "old@example.jp"},
        )
    message.refresh_from_db()
    return message


def test_mail_is_delivered_over_smtp(smtp_server, django_capture_on_commit_callbacks):
    message = queue_one(django_capture_on_commit_callbacks)
    assert message.state == OutboxMessage.State.SENT and message.attempts == 1
    (received,) = smtp_server.wait_for(1)
    assert received["To"] == "hanako@example.jp"
    assert received["Subject"].strip() == "【遠隔モニタリングサービス】メールアドレスを変更しました"
    assert "no-reply@" in received["From"]
    assert "御室 花子 様" in smtp_server.body(received)


def test_smtp_outage_delays_but_loses_nothing_and_sends_once(
    smtp_server, settings, django_capture_on_commit_callbacks
):
    good_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()
    message = queue_one(django_capture_on_commit_callbacks)
    assert message.state == OutboxMessage.State.PENDING
    assert message.attempts == 1 and "Connection refused" in message.last_error
    assert message.next_attempt_at > timezone.now()

    # still down at the next try: the backoff doubles
    first_delay = timedelta(seconds=settings.OUTBOX_RETRY_BASE_SECONDS)
    second_try = message.next_attempt_at + timedelta(seconds=1)
    with time_machine.travel(second_try, tick=False):
        requeue_due_messages()
    message.refresh_from_db()
    assert message.attempts == 2 and message.state == OutboxMessage.State.PENDING
    assert message.next_attempt_at - second_try == first_delay * 2
    assert smtp_server.messages == []

    settings.EMAIL_PORT = good_port
    requeue_due_messages()  # not due yet: nothing happens
    assert OutboxMessage.objects.get(pk=message.pk).attempts == 2
    with time_machine.travel(message.next_attempt_at + first_delay * 2):
        requeue_due_messages()
        requeue_due_messages()  # a second sweep must not send it again
        assert deliver_message(message_id=message.pk) == "not-due"
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT and message.attempts == 3
    assert len(smtp_server.wait_for(1)) == 1


def test_a_message_being_sent_is_not_sent_by_a_second_worker(smtp_server):
    message = OutboxMessage.objects.create(recipient="a@example.jp", subject="s", body="b")
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxMessage.State.SENDING, claimed_at=timezone.now()
    )
    assert deliver_message(message_id=message.pk) == "not-due"
    requeue_due_messages()
    assert smtp_server.messages == []
    # a worker that died mid-send: after a while the message goes back to the queue
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        requeue_due_messages()
    assert OutboxMessage.objects.get(pk=message.pk).state == OutboxMessage.State.SENT
    assert len(smtp_server.wait_for(1)) == 1


def test_gives_up_after_max_attempts(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.OUTBOX_MAX_ATTEMPTS = 2
    message = OutboxMessage.objects.create(recipient="a@example.jp", subject="s", body="b")
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.PENDING
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.FAILED


def test_rolled_back_change_sends_nothing(smtp_server, django_capture_on_commit_callbacks):
    user = factories.customer()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queue_mail(recipient=user.email, kind="email_change_conflict", context={"user": user})
        raise RuntimeError("the change failed")
    assert OutboxMessage.objects.count() == 0
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_database_task_worker_delivers(smtp_server, settings):
    """The production path: the task goes into django-tasks-db's table and db_worker runs it."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    user = factories.customer()
    with transaction.atomic():
        queue_mail(recipient=user.email, kind="email_change_conflict", context={"user": user})
    assert smtp_server.messages == []  # only queued so far
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    assert len(smtp_server.wait_for(1)) == 1
    assert OutboxMessage.objects.get().state == OutboxMessage.State.SENT
