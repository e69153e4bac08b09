"""お客様情報の登録 through the Django test client: the happy path and its mails."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from essmon.accounts.models import AccountToken, TermsAcceptance, User
from essmon.gateways.models import Gateway
from tests import factories
from tests.journeys import agree_terms, form_data, register

pytestmark = pytest.mark.django_db


def activation_link(message) -> str:
    return re.search(r"http://testserver(/activate/[^/\s]+/)", message.body).group(1)


def test_form_requires_terms_first(client):
    response = client.get(reverse("accounts:entry_form"))
    assert response.url == reverse("accounts:entry_terms")


def test_registration_holds_gateway_and_mails_link(client):
    gw = factories.gateway()
    response = register(client, gw)
    assert response.url == reverse("accounts:entry_done")

    user = User.objects.get(email="hanako@example.jp")
    assert not user.is_active and user.is_provisional
    assert user.furigana == "オムロ　ハナコ"  # hiragana converted
    assert user.phone == "+819012345678"
    assert user.postal_code == "6008216"
    gw.refresh_from_db()
    assert gw.state == Gateway.State.HELD and gw.owner == user
    assert gw.site.name == "御室邸"
    assert TermsAcceptance.objects.filter(user=user, context="registration").count() == 1

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hanako@example.jp"]
    # the address is not confirmed yet: the mail carries nothing the registrant typed
    assert message.body.startswith("お申し込みいただいたお客様へ")
    assert "御室" not in message.body
    assert "仮登録" in message.body
    assert "まで有効です" in message.body
    assert "ユーザ ID は、本メールを送信させて頂いている宛先のメールアドレス" in message.body
    token_raw = activation_link(message).split("/")[2]
    assert len(token_raw) >= 43  # 256 bits, urlsafe base64
    assert not AccountToken.objects.filter(token_hash=token_raw).exists()  # stored hashed


def test_back_keeps_input(client):
    gw = factories.gateway()
    agree_terms(client)
    client.post(reverse("accounts:entry_form"), form_data(gw))
    response = client.post(reverse("accounts:entry_confirm"), {"back": "1"})
    assert response.url == reverse("accounts:entry_form")
    page = client.get(reverse("accounts:entry_form")).content.decode()
    assert 'value="御室 花子"' in page
    assert f'value="{gw.gateway_id}"' in page


def test_activation_then_login_reaches_menu(client):
    gw = factories.gateway()
    register(client, gw)
    link = activation_link(mail.outbox[0])
    assert "同意する" in client.get(link).content.decode()
    response = client.post(link)
    assert response.url == link + "password/"
    response = client.post(
        link + "password/",
        {
            "password": "Solar2024Kyoto",
            "password_confirm": "Solar2024Kyoto",
            "phone": "09012345678",
        },
    )
    assert response.url == reverse("accounts:activate_done")
    page = client.get(response.url).content.decode()
    assert "本登録済み" in page and "ログインに戻る" in page

    user = User.objects.get(email="hanako@example.jp")
    assert user.is_active and user.activated_at
    gw.refresh_from_db()
    assert gw.state == Gateway.State.CLAIMED and gw.claimed_at
    assert TermsAcceptance.objects.filter(user=user, context="activation").count() == 1
    assert client.get(link).status_code == 410  # single use

    response = client.post(
        reverse("accounts:login"), {"email": "hanako@example.jp", "password": "Solar2024Kyoto"}
    )
    assert response.url == reverse("accounts:menu")
    menu = client.get(reverse("accounts:menu")).content.decode()
    assert gw.gateway_id in menu and "御室邸" in menu and "登録済み" in menu
