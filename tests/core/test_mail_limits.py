"""Nobody can use the service to send mail: every flow that mails an address someone typed
shares one limit per recipient and one per client address (and per account), and a mail
to an address nobody has confirmed carries nothing a visitor wrote."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.dealers.models import MaintenanceStaff
from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import MAIL_FROM_CLIENT_HELD_BACK, MAIL_TO_RECIPIENT_HELD_BACK
from tests import factories
from tests.factories import DEALER_FORM

pytestmark = pytest.mark.django_db


def reset(client, target, address):
    return client.post(reverse("accounts:password_reset"), {"email": target}, REMOTE_ADDR=address)


def register_customer(client, target, address):
    gw = factories.gateway()
    client.post(reverse("accounts:entry_terms"), REMOTE_ADDR=address)
    form = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id}
    form.update(email=target, email_confirm=target)
    response = client.post(reverse("accounts:entry_form"), form, REMOTE_ADDR=address)
    assert response.status_code == 302, response.content.decode()
    return client.post(reverse("accounts:entry_confirm"), {"register": "1"}, REMOTE_ADDR=address)


def register_dealer(client, target, address):
    client.post(reverse("dealers:entry_terms"), REMOTE_ADDR=address)
    form = {**DEALER_FORM, "email": target, "email_confirm": target}
    response = client.post(reverse("dealers:entry_form"), form, REMOTE_ADDR=address)
    assert response.status_code == 302, response.content.decode()
    return client.post(reverse("dealers:entry_confirm"), {"register": "1"}, REMOTE_ADDR=address)


def change_email(client, target, address):
    data = {
        "current_password": factories.USER_PASSWORD,
        "email": target,
        "email_confirm": target,
    }
    return client.post(reverse("accounts:email_change"), data, REMOTE_ADDR=address)


def add_staff(client, target, address):
    # removing and adding again must not get round the limit
    MaintenanceStaff.objects.filter(email=target).delete()
    data = {"name": "保守 太郎", "email": target}
    return client.post(reverse("dealers:staff"), data, REMOTE_ADDR=address)


@dataclass(frozen=True)
class Flow:
    ask: Callable
    login: str = ""  # "customer" / "dealer": asked by someone logged in
    needs_account: bool = False  # mails only an address that has an account


FLOWS = {
    "password reset": Flow(reset, needs_account=True),
    "customer registration": Flow(register_customer),
    "dealer registration": Flow(register_dealer),
    "mail change": Flow(change_email, login="customer"),
    "保守担当者": Flow(add_staff, login="dealer"),
}


@pytest.fixture
def asker(client):
    def logged_in_for(flow: Flow) -> Client:
        if flow.login == "customer":
            client.force_login(factories.customer(email="asker@example.jp"))
        elif flow.login == "dealer":
            client.force_login(factories.dealer(email="asker@example.jp").user)
        return client

    return logged_in_for


def mails_to(address: str) -> int:
    return OutboxMessage.objects.filter(recipient__iexact=address).count()


@pytest.mark.parametrize("name", FLOWS)
def test_one_recipient_gets_a_few_mails_a_day_whatever_the_client(asker, settings, name):
    flow = FLOWS[name]
    limit = settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY
    target = "victim@example.jp"
    if flow.needs_account:
        factories.customer(email=target)
    client = asker(flow)
    for i in range(limit):
        page = flow.ask(client, target, f"192.0.2.{i}").content.decode()
        assert MAIL_TO_RECIPIENT_HELD_BACK not in page
    before = OutboxMessage.objects.count()
    for i in range(10):
        response = flow.ask(client, target, f"198.51.100.{i}")
        assert MAIL_TO_RECIPIENT_HELD_BACK in response.content.decode()
    assert OutboxMessage.objects.count() == before  # refused: nothing at all was sent
    assert mails_to(target) == limit
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        if flow.login:  # the session has ended meanwhile
            client.force_login(User.objects.get(email="asker@example.jp"))
        page = flow.ask(client, target, "198.51.100.200").content.decode()
        assert MAIL_TO_RECIPIENT_HELD_BACK not in page
    assert mails_to(target) == limit + 1


@pytest.mark.parametrize("name", FLOWS)
def test_one_client_address_can_mail_only_so_many_addresses_an_hour(asker, settings, name):
    flow = FLOWS[name]
    settings.MAIL_REQUESTS_PER_CLIENT_PER_HOUR = 3
    targets = [f"target{i}@example.jp" for i in range(6)]
    if flow.needs_account:
        for target in targets:
            factories.customer(email=target)
    client = asker(flow)
    for target in targets[:3]:
        assert (
            MAIL_FROM_CLIENT_HELD_BACK
            not in flow.ask(client, target, "203.0.113.7").content.decode()
        )
    before = OutboxMessage.objects.count()
    for target in targets[3:5]:
        response = flow.ask(client, target, "203.0.113.7")
        assert MAIL_FROM_CLIENT_HELD_BACK in response.content.decode()
    assert OutboxMessage.objects.count() == before
    assert [mails_to(t) for t in targets[:5]] == [1, 1, 1, 0, 0]
    if flow.login:
        # logged in, the account is limited too: another address does not help
        page = flow.ask(client, targets[5], "203.0.113.8").content.decode()
        assert MAIL_FROM_CLIENT_HELD_BACK in page
    else:
        assert (
            MAIL_FROM_CLIENT_HELD_BACK
            not in flow.ask(client, targets[5], "203.0.113.8").content.decode()
        )
        assert mails_to(targets[5]) == 1


def test_a_refused_reset_reads_the_same_with_or_without_an_account(client, settings):
    settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY = 1
    factories.customer(email="real@example.jp")
    for target in ("real@example.jp", "nobody@example.jp"):
        assert reset(client, target, "192.0.2.1").url == reverse("accounts:password_reset_sent")
        assert MAIL_TO_RECIPIENT_HELD_BACK in reset(client, target, "192.0.2.2").content.decode()


def test_a_refused_registration_creates_nothing_and_holds_no_gateway(client, settings):
    from essmon.gateways.models import Gateway

    settings.MAIL_REQUESTS_PER_CLIENT_PER_HOUR = 1
    register_customer(client, "first@example.jp", "203.0.113.7")
    page = register_customer(client, "second@example.jp", "203.0.113.7").content.decode()
    assert MAIL_FROM_CLIENT_HELD_BACK in page
    assert "入力内容に誤りがあります" not in page  # it was not the input
    assert not User.objects.filter(email="second@example.jp").exists()
    assert Gateway.objects.filter(state=Gateway.State.HELD).count() == 1


# --- what goes into a mail to an address nobody has confirmed -----------------------------

EVIL = "至急 http://evil.example/login で再認証してください"


def test_dealer_registration_mail_carries_no_visitor_text(client):
    client.post(reverse("dealers:entry_terms"))
    form = {**DEALER_FORM, "company_name": EVIL, "branch": EVIL, "name": EVIL[:20]}
    response = client.post(reverse("dealers:entry_form"), form)
    assert response.status_code == 302, response.content.decode()
    client.post(reverse("dealers:entry_confirm"), {"register": "1"})
    (message,) = OutboxMessage.objects.all()
    assert message.kind == "dealer_provisional_registration"
    assert "evil.example" not in message.body and "至急" not in message.body
    assert "evil.example" not in message.subject
    # nor the phone number typed: it is not the address owner's to read before confirming
    phone = form["phone"]
    assert phone not in message.body and phone.replace("-", "") not in message.body
    assert "+81751112222" not in message.body


def test_customer_registration_mail_carries_no_visitor_text(client):
    gw = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id, "name": EVIL[:20]}
    client.post(reverse("accounts:entry_form"), form)
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    (message,) = OutboxMessage.objects.all()
    assert "至急" not in message.body


def test_staff_mail_carries_no_text_the_dealer_typed(client):
    dealer = factories.dealer(company=EVIL)
    client.force_login(dealer.user)
    client.post(reverse("dealers:staff"), {"name": EVIL[:20], "email": "someone@example.jp"})
    message = OutboxMessage.objects.get(recipient="someone@example.jp")
    assert "evil.example" not in message.body and "至急" not in message.body
    assert dealer.dealer_code in message.body


def test_mail_change_confirmation_carries_no_name(client):
    user = factories.customer(name=EVIL[:20])
    client.force_login(user)
    change_email(client, "new@example.jp", "192.0.2.1")
    message = OutboxMessage.objects.get(recipient="new@example.jp")
    assert "至急" not in message.body


# --- the mail change asks for the current password ----------------------------------------


def test_mail_change_needs_the_current_password(client):
    user = factories.customer(email="hanako@example.jp")
    client.force_login(user)
    page = client.get(reverse("accounts:email_change")).content.decode()
    assert "現在のパスワード" in page
    data = {"email": "new@example.jp", "email_confirm": "new@example.jp"}
    for wrong in ({}, {"current_password": "WrongPass1"}):
        response = client.post(reverse("accounts:email_change"), {**data, **wrong})
        assert response.status_code == 200
        assert "現在のパスワード" in response.content.decode()
    assert "現在のパスワードが正しくありません。" in response.content.decode()
    assert OutboxMessage.objects.count() == 0


def test_mail_change_password_guesses_count_towards_the_lock(client, settings):
    from essmon.accounts.services.login import LOGIN_LOCKED

    user = factories.customer(email="hanako@example.jp")
    client.force_login(user)
    data = {"email": "new@example.jp", "email_confirm": "new@example.jp"}
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT):
        client.post(reverse("accounts:email_change"), {**data, "current_password": "WrongPass1"})
    user.refresh_from_db()
    assert user.is_locked
    response = client.post(
        reverse("accounts:email_change"), {**data, "current_password": factories.USER_PASSWORD}
    )
    assert LOGIN_LOCKED in response.content.decode()
    assert not OutboxMessage.objects.filter(recipient="new@example.jp").exists()
