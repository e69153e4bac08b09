"""Issue 11 §5: secrets at rest and in logs.

Mails with token links keep them only until delivered and the admin never shows bodies;
the sheet's gateway password never stays in a session or comes back in a page; data
files are owner-only; access-log lines carry no tokens; control characters are refused
in text fields and can never break a mail subject.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import REMOVED_LINK, deliver_message, scrub_secret_links
from tests import factories
from tests.services import free_port

pytestmark = pytest.mark.django_db

MAIL_TEMPLATES = (
    Path(__file__).resolve().parent.parent / "essmon/notifications/templates/notifications/mail"
)
# every route that a mail links to with a token, by its URL name
TOKEN_ROUTES = {
    "accounts:activate": {"token": "Tk-secret-1"},
    "accounts:activate_password": {"token": "Tk-secret-1"},
    "accounts:unlock": {"token": "Tk-secret-1"},
    "accounts:email_change_confirm": {"token": "Tk-secret-1"},
    "accounts:password_reset_confirm": {"uidb64": "MTI", "token": "cx1234-Tk-secret-1"},
    "dealers:staff_confirm": {"token": "Tk-secret-1"},
}


@pytest.fixture
def operator(client):
    from essmon.accounts.models import User

    op = User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営")
    client.force_login(op)
    return op


# --- 1. the outbox ------------------------------------------------------------------


def test_every_token_link_in_a_mail_template_is_known():
    """A new mail with a token link must be listed above, so the scrub is tested for it."""
    used = set()
    for template in MAIL_TEMPLATES.glob("*.txt"):
        for name, args in re.findall(r"{% url '([\w:]+)' ([^%]*)%}", template.read_text()):
            if "token=" in args:
                used.add(name)
    assert used and used <= set(TOKEN_ROUTES)


@pytest.mark.parametrize("route", sorted(TOKEN_ROUTES))
def test_scrub_removes_each_token_link(settings, route):
    url = settings.BASE_URL + reverse(route, kwargs=TOKEN_ROUTES[route])
    plain = settings.BASE_URL + reverse("accounts:login")
    scrubbed = scrub_secret_links(f"下記の URL から:\n\n{url}\n\nログイン: {plain}\n")
    assert "Tk-secret-1" not in scrubbed and REMOVED_LINK in scrubbed
    assert plain in scrubbed  # links without a secret stay


def request_reset(client, captured, email: str) -> OutboxMessage:
    with captured(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": email})
    assert response.status_code == 302
    return OutboxMessage.objects.get(kind="password_reset", recipient=email)


def test_sent_reset_mail_keeps_no_token_and_the_admin_shows_no_body(
    client, operator, smtp_server, django_capture_on_commit_callbacks
):
    factories.customer(email="hanako@example.jp")
    message = request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")

    (received,) = smtp_server.wait_for(1)
    link = smtp_server.link(received, "/password-reset/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert len(token) > 10 and client.get(link).status_code == 302  # the mailed link works

    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT and message.sent_at is not None
    assert token not in message.body and "/password-reset/" not in message.body
    assert REMOVED_LINK in message.body and "御室 花子 様" in message.body
    assert message.recipient == "hanako@example.jp" and message.kind == "password_reset"

    change = client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk]))
    changelist = client.get(reverse("admin:notifications_outboxmessage_changelist"))
    assert change.status_code == changelist.status_code == 200
    for page in (change, changelist):
        html = page.content.decode()
        assert "hanako@example.jp" in html
        assert "御室 花子 様" not in html and "本文" not in html


def test_a_pending_mail_is_not_readable_in_the_admin_but_is_delivered_whole(
    client, operator, smtp_server, django_capture_on_commit_callbacks, settings
):
    """While unsent the body must stay deliverable; the admin still does not show it."""
    settings.EMAIL_PORT = free_port()  # the mail server is down at first
    factories.customer(email="hanako@example.jp")
    message = request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.PENDING and message.attempts == 1
    token = re.search(r"/password-reset/[^/]+/([^/\s]+)/", message.body).group(1)

    change = client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk]))
    assert token not in change.content.decode()
    search = client.get(reverse("admin:notifications_outboxmessage_changelist"), {"q": token})
    assert "hanako@example.jp" not in search.content.decode()  # the body is not searchable

    settings.EMAIL_PORT = smtp_server.port  # the server is back: the retry sends it whole
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.SENT
    (received,) = smtp_server.wait_for(1)
    assert token in smtp_server.body(received)
    message.refresh_from_db()
    assert token not in message.body


def test_registration_mail_is_scrubbed_once_sent(
    client, smtp_server, django_capture_on_commit_callbacks
):
    """The provisional mail, sent through the registration flow: no activation token kept."""
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    client.post(reverse("accounts:entry_form"), form)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:entry_confirm"))
    assert response.status_code == 302
    (received,) = smtp_server.wait_for(1)
    link = smtp_server.link(received, "/activate/")
    message = OutboxMessage.objects.get(kind="provisional_registration")
    assert message.state == OutboxMessage.State.SENT
    assert link not in message.body and "/activate/" not in message.body
    assert mail.outbox == []  # delivered by SMTP, not the test backend
