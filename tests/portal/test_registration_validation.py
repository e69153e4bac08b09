"""Bad input on the registration form: a clear Japanese message next to the field, input kept,
nothing written."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.gateways.models import Gateway, Site
from essmon.gateways.services import UNAVAILABLE, WRONG_CREDENTIALS
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def gw():
    return factories.gateway()


@pytest.fixture
def agreed(client):
    client.post(reverse("accounts:entry_terms"))
    return client


def post_form(client, gw, **overrides):
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id, **overrides}
    return client.post(reverse("accounts:entry_form"), data)


def assert_refused(response, message: str):
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page, page[:3000]
    assert User.objects.count() == 0 and Site.objects.count() == 0
    return page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "このフィールドは必須です。"),
        ("furigana", "Omuro", "フリガナはカタカナで入力してください。"),
        ("furigana", "御室", "フリガナはカタカナで入力してください。"),
        ("email", "not-an-address", "有効なメールアドレスを入力してください。"),
        ("email_confirm", "other@example.jp", "メールアドレスが一致しません。"),
        ("postal_code", "60082", "郵便番号は7桁の数字で入力してください"),
        ("prefecture", "カリフォルニア", "正しく選択してください。"),
        ("phone", "12345", "電話番号は数字とハイフンで入力してください"),
        ("phone", "+1 650 253 0000", "日本国内の電話番号を入力してください。"),
        ("phone", "0000000000", "日本国内の電話番号を入力してください。"),
        ("gateway_id", "01AB1234", "ゲートウェイIDは12文字"),
        ("gateway_id", "01AB/2345678", "ゲートウェイIDは12文字"),
        ("site_name", "", "このフィールドは必須です。"),
        ("site_postal_code", "abc", "郵便番号は7桁の数字で入力してください"),
        ("department", "営業部", "部署名を入力する場合は法人名も入力してください。"),
    ],
)
def test_each_bad_field_gets_its_message_and_keeps_input(agreed, gw, field, value, message):
    page = assert_refused(post_form(agreed, gw, **{field: value}), message)
    assert 'value="東塩小路町1-1"' in page  # the rest of the input is kept


def test_japanese_input_forms_are_accepted_and_normalised(agreed, gw):
    response = post_form(
        agreed,
        gw,
        furigana="ｵﾑﾛ ﾊﾅｺ",
        phone="０９０－１２３４－５６７８",
        postal_code="〒６００ー８２１６",
        gateway_id=gw.gateway_id.lower(),
    )
    assert response.status_code == 302
    agreed.post(reverse("accounts:entry_confirm"), {"register": "1"})
    user = User.objects.get()
    assert user.furigana == "オムロ　ハナコ"
    assert user.phone == "+819012345678"
    assert user.postal_code == "6008216"


def test_unknown_id_and_wrong_password_get_the_same_message(agreed, gw):
    unknown = post_form(agreed, gw, gateway_id="99ZZ99999999")
    wrong = post_form(agreed, gw, gateway_password="wrongpassword1")
    assert WRONG_CREDENTIALS in unknown.content.decode()
    assert WRONG_CREDENTIALS in wrong.content.decode()
    assert User.objects.count() == 0


@pytest.mark.parametrize("state", [Gateway.State.HELD, Gateway.State.CLAIMED])
def test_taken_gateway_is_refused_without_naming_owner(agreed, state):
    owner = factories.customer(name="山田 太郎", email="taro@example.jp")
    taken = factories.gateway(state=state, owner=owner)
    page = post_form(agreed, taken).content.decode()
    assert UNAVAILABLE in page
    assert "山田" not in page and "taro@" not in page


def test_existing_address_answers_as_new_and_notifies_owner(client, gw):
    owner = factories.customer(email="hanako@example.jp")
    client.post(reverse("accounts:entry_terms"))
    response = post_form(client, gw)
    assert response.status_code == 302
    response = client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert response.url == reverse("accounts:entry_done")
    assert "hanako@example.jp" in client.get(response.url).content.decode()
    assert User.objects.count() == 1  # no second account
    gw.refresh_from_db()
    # held as a new address's registration would hold it, but attached to nobody
    assert gw.state == Gateway.State.HELD and gw.owner is None and gw.site is None
    assert gw.reserved_for == owner
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert "すでにアカウントがございます" in mail.outbox[0].body
    assert f"ゲートウェイID: {gw.gateway_id}" in mail.outbox[0].body
    assert "/activate/" not in mail.outbox[0].body


def test_existing_address_differing_only_in_case_is_the_same_account(client, gw):
    factories.customer(email="hanako@example.jp")
    client.post(reverse("accounts:entry_terms"))
    post_form(client, gw, email="Hanako@Example.jp", email_confirm="Hanako@Example.jp")
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert User.objects.count() == 1
    assert mail.outbox[0].to == ["hanako@example.jp"]


def test_provisional_address_registering_again_gets_a_fresh_link(client, gw):
    client.post(reverse("accounts:entry_terms"))
    post_form(client, gw)
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    second = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    post_form(client, second)
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert len(mail.outbox) == 2
    assert "/activate/" in mail.outbox[1].body
    # a stranger typing the address into a form must not be able to void the person's link
    first_link = mail.outbox[0].body.split("http://testserver")[1].split()[0]
    second_link = mail.outbox[1].body.split("http://testserver")[1].split()[0]
    assert first_link != second_link
    assert client.get(first_link).status_code == 200
    assert client.get(second_link).status_code == 200


def test_notices_to_an_existing_address_are_capped(client, settings):
    factories.customer(email="hanako@example.jp")
    for _ in range(settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY + 2):
        gw = factories.gateway()
        client.post(reverse("accounts:entry_terms"))
        post_form(client, gw)
        client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert len(mail.outbox) == settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY


def test_gateway_taken_between_confirmation_and_register(client, gw):
    client.post(reverse("accounts:entry_terms"))
    post_form(client, gw)
    Gateway.objects.filter(pk=gw.pk).update(state=Gateway.State.CLAIMED)
    response = client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert UNAVAILABLE in response.content.decode()
    assert User.objects.count() == 0 and Site.objects.count() == 0
    assert mail.outbox == []


def test_postal_lookup_without_javascript_fills_address(agreed, gw):
    data = {**factories.REGISTRATION_FORM, "prefecture": "", "city": "", "lookup": "user"}
    page = agreed.post(reverse("accounts:entry_form"), data).content.decode()
    assert '<option value="京都府" selected>' in page
    assert 'value="京都市下京区"' in page
    assert User.objects.count() == 0


# --- an address that already has an account looks like a new one ---------------------------


def register_as(email, gw, address="192.0.2.50"):
    """A fresh visitor registering ``gw`` with ``email``; the done page and its status."""
    from django.test import Client

    visitor = Client()
    visitor.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id}
    data.update(email=email, email_confirm=email)
    form = visitor.post(reverse("accounts:entry_form"), data, REMOTE_ADDR=address)
    confirm = visitor.post(
        reverse("accounts:entry_confirm"), {"register": "1"}, REMOTE_ADDR=address
    )
    done = visitor.get(confirm.url)
    return (form.status_code, form.url, confirm.status_code, confirm.url, done.status_code), done


def page_without_tokens(response, email_start: str) -> str:
    page = response.content.decode().replace(email_start, "X@")
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", page)


def second_registrant_sees(gw) -> str:
    """What anyone else trying the same sheet a moment later is told."""
    from django.test import Client

    other = Client()
    other.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id}
    data.update(email="someone.else@example.jp", email_confirm="someone.else@example.jp")
    response = other.post(reverse("accounts:entry_form"), data)
    if response.status_code == 302:
        return "free"
    return "unavailable" if UNAVAILABLE in response.content.decode() else "other"


def test_existing_and_new_addresses_cannot_be_told_apart(client):
    factories.customer(email="taken@example.jp")
    sheet_new, sheet_taken = factories.gateway(), factories.gateway()
    answer_new, done_new = register_as("fresh@example.jp", sheet_new)
    answer_taken, done_taken = register_as("taken@example.jp", sheet_taken)
    assert answer_new == answer_taken
    assert page_without_tokens(done_new, "fresh@") == page_without_tokens(done_taken, "taken@")
    assert second_registrant_sees(sheet_new) == second_registrant_sees(sheet_taken) == "unavailable"
    # and both holds end together, when a new address's activation link expires
    from essmon.accounts.services.expiry import release_expired_registrations

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=-5)):
        release_expired_registrations()
        assert second_registrant_sees(sheet_new) == second_registrant_sees(sheet_taken)
        assert second_registrant_sees(sheet_taken) == "unavailable"
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=5)):
        release_expired_registrations()
        assert second_registrant_sees(sheet_new) == second_registrant_sees(sheet_taken) == "free"


def test_the_held_sheet_is_the_accounts_to_claim_and_nobody_elses(client):
    owner = factories.customer(email="taken@example.jp")
    sheet = factories.gateway()
    register_as("taken@example.jp", sheet)
    assert not owner.gateways.exists() and not owner.sites.exists()  # nothing attached
    data = {"gateway_id": sheet.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD}
    stranger = factories.customer(email="stranger@example.jp")
    client.force_login(stranger)
    assert UNAVAILABLE in client.post(reverse("accounts:gateway_add"), data).content.decode()
    client.force_login(owner)
    assert client.post(reverse("accounts:gateway_add"), data).url == reverse(
        "accounts:gateway_add_site"
    )
    site = {
        "site_name": "別邸",
        "site_postal_code": "600-8216",
        "site_prefecture": "京都府",
        "site_city": "京都市下京区",
        "site_address_rest": "東塩小路町1-1",
    }
    client.post(reverse("accounts:gateway_add_site"), site)
    client.post(reverse("accounts:gateway_add_confirm"), {"register": "1"})
    sheet.refresh_from_db()
    assert sheet.state == Gateway.State.CLAIMED and sheet.owner == owner
    assert sheet.reserved_for is None and sheet.site.name == "別邸"
