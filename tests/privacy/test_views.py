"""お客様データのダウンロード and 退会 through their pages (issue 12 §5): reached from
「アカウント情報」, the password asked again, the screen saying what happens and what is
kept, and nothing done on a wrong password or without the confirmation."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.dealers.models import ProvisionRecord
from essmon.gateways.models import Gateway
from essmon.privacy import services
from tests import factories, privacy_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client):
    made = privacy_world.build()
    client.force_login(made.customer)
    return made


def test_account_page_links_to_both(client, world):
    body = client.get(reverse("accounts:account")).content.decode()
    assert reverse("privacy:data_export") in body and "お客様データのダウンロード" in body
    assert reverse("privacy:withdraw") in body and ">退会<" in body


def test_export_page_says_what_the_file_holds(client, world):
    body = client.get(reverse("privacy:data_export")).content.decode()
    assert "日ごとの集計" in body and "JSON" in body
    assert '<label for="id_password">パスワード' in body


def test_export_needs_the_password(client, world):
    response = client.post(reverse("privacy:data_export"), {"password": "Wrong2024Pass"})
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert "現在のパスワードが正しくありません。" in response.content.decode()


def test_export_downloads_one_json_file_and_is_logged(client, world, caplog):
    with caplog.at_level(logging.INFO, logger="essmon.privacy.export"):
        response = client.post(
            reverse("privacy:data_export"), {"password": factories.USER_PASSWORD}
        )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="essmon-data-')
    data = json.loads(b"".join(response.streaming_content))
    assert data["version"] == 2 and data["account"]["email"] == privacy_world.EMAIL
    assert f"data export for account {world.customer.pk}" in caplog.text
    assert privacy_world.EMAIL not in caplog.text


def test_dealers_and_strangers_do_not_get_these_pages(client):
    for name in ("privacy:data_export", "privacy:withdraw"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))
    client.force_login(factories.dealer().user)
    for name in ("privacy:data_export", "privacy:withdraw"):
        assert client.get(reverse(name)).url == reverse("dealers:menu")
        assert client.post(reverse(name), {"password": factories.USER_PASSWORD}).status_code == 302


def test_withdraw_page_says_exactly_what_happens(client, world):
    body = client.get(reverse("privacy:withdraw")).content.decode()
    for gateway in world.gateways:
        assert gateway.gateway_id in body
    assert "左京蓄電(販売店ID D7000001" in body
    assert "個人情報保護法第29条" in body and "施行規則第21条" in body and "3年間" in body
    kept_through = services.keep_until(timezone.now()) - timedelta(days=1)
    assert f"{kept_through:%Y}年{kept_through.month}月{kept_through.day}日まで保存" in body
    assert privacy_world.EMAIL in body and "送信後は記録に残しません" in body
    assert "取り消せません" in body and "お客様データのダウンロード" in body
    assert '<label for="id_confirm">' in body and '<label for="id_password">' in body


@pytest.mark.parametrize(
    "data, message",
    [
        ({"password": factories.USER_PASSWORD}, "チェックを入れてください"),
        ({"password": "Wrong2024Pass", "confirm": "on"}, "現在のパスワードが正しくありません。"),
    ],
)
def test_nothing_happens_without_password_and_confirmation(client, world, data, message):
    response = client.post(reverse("privacy:withdraw"), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert User.objects.filter(pk=world.customer.pk).exists()
    assert Gateway.objects.filter(owner=world.customer).count() == 2


def test_withdraw_ends_the_session_and_says_what_was_kept(client, world):
    response = client.post(
        reverse("privacy:withdraw"), {"password": factories.USER_PASSWORD, "confirm": "on"}
    )
    assert response.status_code == 302 and response.url == reverse("privacy:withdrawn")
    assert not User.objects.filter(pk=world.customer.pk).exists()
    body = client.get(response.url).content.decode()
    assert "退会の手続きが完了しました" in body
    assert "ゲートウェイ2台の登録を解除しました" in body and "3年間保存" in body
    assert privacy_world.NAME not in body and privacy_world.EMAIL not in body
    assert ProvisionRecord.objects.filter(customer_name=privacy_world.NAME).exists()
    # logged out: the menu asks for a login, and the completion page is shown once
    assert client.get(reverse("accounts:menu")).url.startswith(reverse("accounts:login"))
    assert client.get(reverse("privacy:withdrawn")).url == reverse("accounts:landing")


def test_the_old_login_no_longer_works(client, world):
    client.post(reverse("privacy:withdraw"), {"password": factories.USER_PASSWORD, "confirm": "on"})
    client.logout()
    response = client.post(
        reverse("accounts:login"),
        {"email": privacy_world.EMAIL, "password": factories.USER_PASSWORD},
    )
    assert response.status_code == 200  # the login page again, with its message
    assert "メールアドレスまたはパスワードが正しくありません。" in response.content.decode()
