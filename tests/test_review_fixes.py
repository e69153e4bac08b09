"""Regression tests for defects found in review: roles at the claim, links that must end,
throttles under parallel requests, a shared browser, a dealer's changed address."""

import threading

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from essmon.accounts import services as account_services
from essmon.accounts.models import AccountToken
from essmon.dealers import selectors as dealer_services
from essmon.gateways.models import Gateway
from essmon.gateways.services.claims import GatewayError, check_gateway_credentials
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_dealer_cannot_claim_a_gateway(client):
    dealer = factories.dealer()
    gw = factories.gateway()
    client.force_login(dealer.user)
    response = client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    assert response.url == reverse("dealers:menu")
    with pytest.raises(GatewayError):
        account_services.add_gateway(
            user=dealer.user,
            gateway_id=gw.gateway_id,
            gateway_password=factories.GATEWAY_PASSWORD,
            site=account_services.SiteInput(
                name="x", postal_code="6008216", prefecture="京都府", address_rest="1"
            ),
            client_address="192.0.2.1",
        )
    gw.refresh_from_db()
    assert gw.state == Gateway.State.UNCLAIMED and gw.owner is None


def test_an_operator_cannot_reach_the_customer_gateway_screens(client):
    operator = factories.customer(role="operator", is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.get(reverse("accounts:gateway_add"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:menu")


def test_password_change_ends_a_pending_email_change(client):
    user = factories.customer(email="hanako@example.jp")
    client.force_login(user)
    client.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "attacker@example.jp",
            "email_confirm": "attacker@example.jp",
        },
    )
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    client.post(
        reverse("accounts:password_change"),
        {
            "old_password": factories.USER_PASSWORD,
            "new_password": "NewSolar2025x",
            "new_password_confirm": "NewSolar2025x",
        },
    )
    assert client.get(link).status_code == 410
    user.refresh_from_db()
    assert user.email == "hanako@example.jp"


def test_password_reset_ends_pending_links():
    user = factories.customer()
    account_services.request_email_change(
        user=user, new_email="x@example.jp", client_address="192.0.2.1"
    )
    account_services.clear_lock_after_password_reset(user=user)
    assert not any(t.is_usable() for t in AccountToken.objects.filter(user=user))


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_cannot_exceed_the_limit(settings):
    settings.GATEWAY_PASSWORD_FAILURES_PER_HOUR = 3
    gw = factories.gateway()
    barrier = threading.Barrier(8)
    checked: list[str] = []

    def attempt(n: int):
        barrier.wait()
        try:
            check_gateway_credentials(
                gateway_id=gw.gateway_id, password="wrongpass99", client_address=f"192.0.2.{n}"
            )
        except GatewayError as exc:
            checked.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    from essmon.gateways.services.claims import TOO_MANY_TRIES, WRONG_CREDENTIALS

    assert checked.count(WRONG_CREDENTIALS) == 3  # only three passwords were ever checked
    assert checked.count(TOO_MANY_TRIES) == 5


def test_a_right_answer_does_not_count_against_the_limit(settings):
    settings.GATEWAY_PASSWORD_FAILURES_PER_HOUR = 2
    gw = factories.gateway()
    for _ in range(5):
        check_gateway_credentials(
            gateway_id=gw.gateway_id,
            password=factories.GATEWAY_PASSWORD,
            client_address="192.0.2.9",
        )


def test_login_starts_a_clean_session_on_a_shared_browser(client):
    gw = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id, "name": "前の人 太郎"}
    client.post(reverse("accounts:entry_form"), data)
    assert client.session["registration_form"]["name"] == "前の人 太郎"  # the control
    other = factories.customer(email="next@example.jp")
    client.post(
        reverse("accounts:login"), {"email": other.email, "password": factories.USER_PASSWORD}
    )
    assert client.get(reverse("accounts:menu")).status_code == 200
    assert "registration_form" not in client.session
    assert "registration_terms_id" not in client.session


def test_a_dealers_new_address_keeps_receiving_its_mails(client):
    dealer = factories.dealer(email="old@dealer.jp")
    client.force_login(dealer.user)
    client.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "new@dealer.jp",
            "email_confirm": "new@dealer.jp",
        },
    )
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    client.get(link)
    assert dealer_services.alert_recipients(dealer=dealer) == ["new@dealer.jp"]
