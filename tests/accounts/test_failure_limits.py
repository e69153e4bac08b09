"""Failure limits: gateway passwords, logins, and the activation phone check."""

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import AccountToken, User
from essmon.accounts.services.changes import request_email_change
from essmon.accounts.services.login import (
    LOGIN_FAILED,
    LOGIN_LOCKED,
    LOGIN_THROTTLED,
    clear_lock_after_password_reset,
)
from essmon.gateways.models import Gateway
from essmon.gateways.services import (
    TOO_MANY_TRIES,
    WRONG_CREDENTIALS,
    GatewayError,
    check_gateway_credentials,
)
from tests import factories
from tests.journeys import provisional_registration

pytestmark = pytest.mark.django_db


def try_gateway(client, gw, password="wrongpass99", address="192.0.2.1"):
    data = {
        **factories.REGISTRATION_FORM,
        "gateway_id": gw.gateway_id,
        "gateway_password": password,
    }
    return client.post(reverse("accounts:entry_form"), data, REMOTE_ADDR=address).content.decode()


@pytest.fixture
def agreed(client):
    client.post(reverse("accounts:entry_terms"))
    return client


def test_ten_wrong_gateway_passwords_per_hour_block_that_gateway(agreed):
    gw = factories.gateway()
    for i in range(10):
        assert WRONG_CREDENTIALS in try_gateway(agreed, gw, address=f"192.0.2.{i}")
    # the right password no longer helps, from any address, for an hour
    assert TOO_MANY_TRIES in try_gateway(agreed, gw, factories.GATEWAY_PASSWORD, "198.51.100.7")
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        page = try_gateway(agreed, gw, factories.GATEWAY_PASSWORD, "198.51.100.7")
        assert TOO_MANY_TRIES not in page and WRONG_CREDENTIALS not in page


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


def test_fifteen_households_behind_one_address_register_despite_typos(agreed):
    """An apartment block, an office or a carrier NAT: many registrants share one address.
    Their typos must not lock each other out, while one sheet's guessing still is."""
    nat = "203.0.113.5"
    households = [factories.gateway() for _ in range(15)]
    for gw in households:
        for _ in range(2):
            assert WRONG_CREDENTIALS in try_gateway(agreed, gw, address=nat)
        page = try_gateway(agreed, gw, factories.GATEWAY_PASSWORD, nat)
        assert TOO_MANY_TRIES not in page and WRONG_CREDENTIALS not in page
    guessed = factories.gateway()
    for _ in range(10):
        assert WRONG_CREDENTIALS in try_gateway(agreed, guessed, address=nat)
    assert TOO_MANY_TRIES in try_gateway(agreed, guessed, factories.GATEWAY_PASSWORD, nat)
    # and the block goes on registering
    page = try_gateway(agreed, factories.gateway(), factories.GATEWAY_PASSWORD, nat)
    assert TOO_MANY_TRIES not in page and WRONG_CREDENTIALS not in page


def test_one_address_spraying_many_sheets_is_paused_for_a_short_window(agreed, settings):
    limit = settings.GATEWAY_PASSWORD_FAILURES_PER_ADDRESS
    window = settings.GATEWAY_PASSWORD_ADDRESS_WINDOW_MINUTES
    assert limit >= 30 and window <= 15  # fits a NAT (see docs/configuration.md)
    for _ in range(limit):
        assert WRONG_CREDENTIALS in try_gateway(agreed, factories.gateway(), address="203.0.113.8")
    fresh = factories.gateway()
    assert TOO_MANY_TRIES in try_gateway(agreed, fresh, factories.GATEWAY_PASSWORD, "203.0.113.8")
    assert TOO_MANY_TRIES not in try_gateway(
        agreed, fresh, factories.GATEWAY_PASSWORD, "203.0.113.9"
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=window, seconds=1)):
        page = try_gateway(agreed, factories.gateway(), factories.GATEWAY_PASSWORD, "203.0.113.8")
        assert TOO_MANY_TRIES not in page and WRONG_CREDENTIALS not in page


def test_an_ipv6_client_is_counted_by_its_64(agreed, settings):
    settings.GATEWAY_PASSWORD_FAILURES_PER_ADDRESS = 3
    for i in range(3):
        try_gateway(agreed, factories.gateway(), address=f"2001:db8:1:2::{i + 1}")
    page = try_gateway(agreed, factories.gateway(), factories.GATEWAY_PASSWORD, "2001:db8:1:2::ff")
    assert TOO_MANY_TRIES in page
    page = try_gateway(agreed, factories.gateway(), factories.GATEWAY_PASSWORD, "2001:db8:1:3::1")
    assert TOO_MANY_TRIES not in page


def test_ten_wrong_tries_by_one_account_block_that_account(client):
    user = factories.customer()
    client.force_login(user)
    url = reverse("accounts:gateway_add")
    gateways = [factories.gateway() for _ in range(11)]
    for i, gw in enumerate(gateways[:10]):
        page = client.post(
            url,
            {"gateway_id": gw.gateway_id, "gateway_password": "wrongpass99"},
            REMOTE_ADDR=f"192.0.2.{i}",
        ).content.decode()
        assert WRONG_CREDENTIALS in page
    page = client.post(
        url,
        {"gateway_id": gateways[10].gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
        REMOTE_ADDR="198.51.100.1",
    ).content.decode()
    assert TOO_MANY_TRIES in page


# --- login ---------------------------------------------------------------------------


def login(client, email, password, address="192.0.2.10"):
    return client.post(
        reverse("accounts:login"), {"email": email, "password": password}, REMOTE_ADDR=address
    )


def test_login_is_case_sensitive_and_generic(client):
    factories.customer(email="hanako@example.jp")
    for email, password in [
        ("Hanako@example.jp", factories.USER_PASSWORD),
        ("hanako@example.jp", factories.USER_PASSWORD.lower()),
        ("nobody@example.jp", factories.USER_PASSWORD),
    ]:
        page = login(client, email, password).content.decode()
        assert "メールアドレスまたはパスワードが正しくありません。" in page
    assert login(client, "hanako@example.jp", factories.USER_PASSWORD).url == reverse(
        "accounts:menu"
    )


def test_provisional_account_cannot_log_in(client):
    factories.customer(email="p@example.jp", is_active=False, activated_at=None)
    page = login(client, "p@example.jp", factories.USER_PASSWORD).content.decode()
    assert "メールアドレスまたはパスワードが正しくありません。" in page


def test_lockout_after_ten_failures_and_recovery_by_mail(client):
    user = factories.customer(email="hanako@example.jp")
    for i in range(10):
        login(client, user.email, "WrongPass1", address=f"192.0.2.{i}")
    user.refresh_from_db()
    assert user.is_locked
    # even the right password is refused, with the lock named
    page = login(client, user.email, factories.USER_PASSWORD).content.decode()
    assert LOGIN_LOCKED in page
    assert [m.to for m in mail.outbox] == [[user.email]]
    body = mail.outbox[0].body
    assert "ロック" in body
    unlock = body.split("http://testserver")[1].split()[0]
    assert unlock.startswith("/unlock/")
    assert client.get(unlock).url == reverse("accounts:login")
    assert login(client, user.email, factories.USER_PASSWORD).url == reverse("accounts:menu")
    assert client.get(unlock).status_code == 410  # single use


def test_password_reset_lifts_the_lock(client):
    user = factories.customer(email="hanako@example.jp")
    User.objects.filter(pk=user.pk).update(locked_at=timezone.now(), failed_logins=10)
    client.post(reverse("accounts:password_reset"), {"email": user.email})
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    assert client.get(link).status_code == 200  # the form, on the mailed link itself
    response = client.post(
        link, {"new_password1": "NewSolar2025x", "new_password2": "NewSolar2025x"}
    )
    assert response.url == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert not user.is_locked
    assert login(client, user.email, "NewSolar2025x").url == reverse("accounts:menu")


def test_password_reset_ends_pending_links():
    user = factories.customer()
    request_email_change(user=user, new_email="x@example.jp", client_address="192.0.2.1")
    clear_lock_after_password_reset(user=user)
    assert not any(t.is_usable() for t in AccountToken.objects.filter(user=user))


def test_password_reset_for_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.jp"})
    assert response.url == reverse("accounts:password_reset_sent")
    assert mail.outbox == []


def test_login_failures_per_address_are_limited(client, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS_PER_HOUR = 3
    factories.customer(email="a@example.jp")
    for _ in range(3):
        login(client, "nobody@example.jp", "x", address="203.0.113.9")
    page = login(client, "a@example.jp", factories.USER_PASSWORD, address="203.0.113.9")
    assert "しばらくログインできません" in page.content.decode()
    assert login(client, "a@example.jp", factories.USER_PASSWORD, address="203.0.113.10").url


# --- activation phone check ------------------------------------------------------------


def activation_post(client, url, phone):
    return client.post(
        url, {"password": "Solar2024Kyoto", "password_confirm": "Solar2024Kyoto", "phone": phone}
    )


def test_wrong_phone_is_refused_next_to_the_field(client):
    _gw, url = provisional_registration(client)
    page = activation_post(client, url, "090-9999-9999").content.decode()
    assert "電話番号がご登録の番号と一致しません。" in page
    assert not User.objects.get().is_active


def test_five_wrong_phones_void_the_link_and_free_the_gateway(client):
    gw, url = provisional_registration(client)
    for _ in range(4):
        activation_post(client, url, "090-9999-9999")
    response = activation_post(client, url, "090-9999-9999")
    assert response.status_code == 410
    assert "無効になりました" in response.content.decode()
    assert User.objects.count() == 0
    gw.refresh_from_db()
    assert gw.state == Gateway.State.UNCLAIMED and gw.owner is None
    assert activation_post(client, url, "090-1234-5678").status_code == 410


@pytest.mark.parametrize(
    "password",
    [
        "short1A",
        "Seventeen17Chars1",
        "alllowercase1",
        "ALLUPPERCASE1",
        "NoDigitsHere",
        "Password123",
    ],
)
def test_password_rule(client, password):
    _gw, url = provisional_registration(client)
    response = client.post(
        url, {"password": password, "password_confirm": password, "phone": "09012345678"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "パスワード" in page and 'class="error"' in page
    assert not User.objects.get().is_active


def test_expired_link_is_refused(client):
    _gw, url = provisional_registration(client)
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        response = activation_post(client, url, "090-1234-5678")
        assert response.status_code == 410
        assert "有効期限が切れています" in response.content.decode()


def test_wrong_password_counts_even_through_the_registration_service():
    from essmon.accounts.selectors import current_terms
    from essmon.accounts.services.inputs import Person, SiteInput
    from essmon.accounts.services.registration import register_customer
    from essmon.gateways.services import GatewayError

    gw = factories.gateway()
    person = Person(
        name="御室 花子",
        furigana="オムロ",
        email="a@example.jp",
        postal_code="6008216",
        prefecture="京都府",
        city="京都市",
        address_rest="1",
        phone="+819012345678",
    )
    site = SiteInput(name="邸", postal_code="6008216", prefecture="京都府", address_rest="1")
    for _ in range(10):
        with pytest.raises(GatewayError):
            register_customer(
                person=person,
                gateway_id=gw.gateway_id,
                gateway_password="wrongpass99",
                site=site,
                terms=current_terms(),
                client_address="192.0.2.77",
            )
    with pytest.raises(GatewayError, match="一時停止"):
        register_customer(
            person=person,
            gateway_id=gw.gateway_id,
            gateway_password=factories.GATEWAY_PASSWORD,
            site=site,
            terms=current_terms(),
            client_address="198.51.100.77",
        )


# --- one rule for every way in -----------------------------------------------------------

LOGIN_PAGES = {
    "registration site": ("accounts:login", "email"),
    "monitoring site": ("monitoring:login", "email"),
    "admin": ("admin:login", "username"),
}


def login_on(client, page, email, password, address="192.0.2.10"):
    url_name, field = LOGIN_PAGES[page]
    response = client.post(
        reverse(url_name), {field: email, "password": password}, REMOTE_ADDR=address
    )
    return response, "_auth_user_id" in client.session


@pytest.fixture
def operator():
    return User.objects.create_superuser("op@example.jp", factories.USER_PASSWORD, name="運営")


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_every_login_page_locks_the_account_even_for_the_right_password(client, operator, page):
    for i in range(10):
        _response, logged_in = login_on(client, page, operator.email, "WrongPass1", f"192.0.2.{i}")
        assert not logged_in
    operator.refresh_from_db()
    assert operator.is_locked
    response, logged_in = login_on(client, page, operator.email, factories.USER_PASSWORD)
    assert not logged_in
    assert LOGIN_LOCKED in response.content.decode()
    assert [m.to for m in mail.outbox] == [[operator.email]]  # one unlock mail


def test_failures_on_different_pages_add_up(client, operator):
    for i, page in enumerate([*LOGIN_PAGES] * 4):
        if i == 10:
            break
        login_on(client, page, operator.email, "WrongPass1")
    operator.refresh_from_db()
    assert operator.is_locked


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_every_login_page_limits_failures_per_client_address(client, operator, settings, page):
    settings.LOGIN_FAILURES_PER_ADDRESS_PER_HOUR = 3
    for i in range(3):
        login_on(client, page, f"nobody{i}@example.jp", "x", address="203.0.113.9")
    response, logged_in = login_on(
        client, page, operator.email, factories.USER_PASSWORD, address="203.0.113.9"
    )
    assert not logged_in and LOGIN_THROTTLED in response.content.decode()
    _response, logged_in = login_on(
        client, page, operator.email, factories.USER_PASSWORD, address="203.0.113.10"
    )
    assert logged_in


def test_authenticate_without_a_request_is_limited_too(operator, settings):
    from django.contrib.auth import authenticate

    settings.LOGIN_FAILURES_PER_ADDRESS_PER_HOUR = 2
    for _ in range(2):
        assert authenticate(email=operator.email, password="WrongPass1") is None
    assert authenticate(email=operator.email, password=factories.USER_PASSWORD) is None


def test_an_unknown_id_locks_like_an_account_so_the_lock_names_nobody(client):
    factories.customer(email="real@example.jp")
    pages = {}
    for email in ("real@example.jp", "nobody@example.jp"):
        for i in range(9):
            assert (
                LOGIN_FAILED in login(client, email, "WrongPass1", f"192.0.2.{i}").content.decode()
            )
        pages[email] = login(client, email, "WrongPass1", "192.0.2.99").content.decode()
        assert LOGIN_LOCKED in pages[email]
        assert LOGIN_LOCKED in login(client, email, "WrongPass1", "192.0.2.98").content.decode()
    errors = {
        email: re.search(r'class="form-errors".*?</div>', page, re.S).group(0)
        for email, page in pages.items()
    }
    assert errors["real@example.jp"] == errors["nobody@example.jp"]


def test_a_successful_login_starts_the_count_again(client):
    user = factories.customer(email="hanako@example.jp")
    for _ in range(9):
        login(client, user.email, "WrongPass1")
    assert login(client, user.email, factories.USER_PASSWORD).url == reverse("accounts:menu")
    client.post(reverse("accounts:logout"))
    for _ in range(9):
        login(client, user.email, "WrongPass1")
    user.refresh_from_db()
    assert not user.is_locked


@pytest.mark.parametrize(
    "url_name, field, extra",
    [
        ("accounts:password_change", "old_password", {}),
        ("accounts:email_change", "current_password", {"email": "n@example.jp"}),
    ],
)
def test_current_password_checks_count_towards_the_lock(client, url_name, field, extra):
    """A session left open (or taken) is no way round the lock."""
    user = factories.customer(email="hanako@example.jp")
    client.force_login(user)
    for _ in range(10):
        client.post(reverse(url_name), {field: "WrongPass1", **extra})
    user.refresh_from_db()
    assert user.is_locked
    page = client.post(reverse(url_name), {field: factories.USER_PASSWORD, **extra})
    assert LOGIN_LOCKED in page.content.decode()


def test_the_admins_password_change_counts_towards_the_lock(client, operator):
    """Django's admin checks the old password itself, without the limits: thirty guesses
    and then the right one changed it. Now it counts like every way in."""
    client.force_login(operator)
    url = reverse("admin:password_change")
    assert client.get(url).status_code == 200
    new = "Sakura2026xy"
    for _ in range(10):
        page = client.post(
            url, {"old_password": "WrongPass1", "new_password1": new, "new_password2": new}
        )
        assert page.status_code == 200
    operator.refresh_from_db()
    assert operator.is_locked
    page = client.post(
        url,
        {"old_password": factories.USER_PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert page.status_code == 200 and LOGIN_LOCKED in page.content.decode()
    operator.refresh_from_db()
    assert not operator.check_password(new)


def test_a_lock_lifts_by_itself_alike_with_or_without_an_account(client):
    """Were only the unknown ID's lock to lift, waiting a day would tell who has an
    account."""
    factories.customer(email="real@example.jp")
    ids = ("real@example.jp", "nobody@example.jp")
    for email in ids:
        for i in range(10):
            login(client, email, "WrongPass1", f"192.0.2.{i}")
    locked_at = timezone.now()

    def page(email, password="WrongPass1"):
        return login(client, email, password, "198.51.100.7").content.decode()

    for email in ids:
        assert LOGIN_LOCKED in page(email)
    with time_machine.travel(locked_at + timedelta(hours=23)):
        for email in ids:
            assert LOGIN_LOCKED in page(email)
        assert LOGIN_LOCKED in page("real@example.jp", factories.USER_PASSWORD)
    with time_machine.travel(locked_at + timedelta(hours=25)):
        errors = {
            email: re.search(r'class="form-errors".*?</div>', page(email), re.S).group(0)
            for email in ids
        }
        assert errors["real@example.jp"] == errors["nobody@example.jp"]
        assert LOGIN_LOCKED not in errors["real@example.jp"]
        assert LOGIN_FAILED in errors["real@example.jp"]
        response = login(client, "real@example.jp", factories.USER_PASSWORD, "198.51.100.7")
        assert response.url == reverse("accounts:menu")


def test_the_lock_message_and_mail_say_when_the_lock_lifts(client, settings):
    user = factories.customer(email="hanako@example.jp")
    settings.LOGIN_LOCK_HOURS = 6
    for i in range(10):
        login(client, user.email, "WrongPass1", f"192.0.2.{i}")
    page = login(client, user.email, factories.USER_PASSWORD).content.decode()
    assert "ロックは6時間たつと自動的に解除されます。" in page
    body = mail.outbox[-1].body
    lifts = timezone.localtime(User.objects.get(pk=user.pk).locked_at + timedelta(hours=6))
    assert f"ロックは {lifts:%Y年}{lifts.month}月{lifts.day}日 {lifts:%H:%M} に自動的に" in body
