"""The sheet's QR code (``/?gw=<ID>``) opens the registration with the gateway ID filled
in, through the terms, in the first registration and in 「ゲートウェイの登録」; a bad ID
is ignored without a word. 「サンプル画像はこちら」 shows the printed sheet's own layout."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from essmon.accounts.views.steps import SHEET_GATEWAY_KEY
from tests import factories
from tests.journeys import register

pytestmark = pytest.mark.django_db


def gateway_id_field(html: str) -> str | None:
    field = re.search(r'<input[^>]*name="gateway_id"[^>]*>', html)
    assert field, "no gateway ID field"
    value = re.search(r'value="([^"]*)"', field.group(0))
    return value.group(1) if value else None


def test_the_qr_code_fills_the_gateway_id_through_the_terms(client):
    landing = client.get(reverse("accounts:landing"), {"gw": "01ab-1234 5678"})
    assert landing.status_code == 200
    page = landing.content.decode()
    assert "QRコードからゲートウェイID <strong>01AB12345678</strong> を読み取りました" in page
    # before the terms, the form still sends to the terms
    assert client.get(reverse("accounts:entry_form")).url == reverse("accounts:entry_terms")
    client.post(reverse("accounts:entry_terms"))
    form = client.get(reverse("accounts:entry_form")).content.decode()
    assert gateway_id_field(form) == "01AB12345678"
    assert 'name="gateway_password"' in form and "abcedfghijk12" not in form


@pytest.mark.parametrize(
    "value",
    [
        "",
        "XX",
        "01AB1234567",
        "01AB123456789",
        "<script>alert(1)</script>",
        "０" * 5000,
        "01AB/2345678",
    ],
)
def test_a_bad_id_is_ignored_without_a_word(client, value):
    landing = client.get(reverse("accounts:landing"), {"gw": value})
    assert landing.status_code == 200
    page = landing.content.decode()
    assert "読み取りました" not in page and "<script>alert" not in page
    assert SHEET_GATEWAY_KEY not in client.session
    client.post(reverse("accounts:entry_terms"))
    assert not gateway_id_field(client.get(reverse("accounts:entry_form")).content.decode())


def test_what_was_typed_wins_and_registering_forgets_the_qr_code(client):
    gateway = factories.gateway()
    client.get(reverse("accounts:landing"), {"gw": "01AB99999999"})
    register(client, gateway)  # typed another ID: that one is registered
    assert SHEET_GATEWAY_KEY not in client.session
    gateway.refresh_from_db()
    assert gateway.state == "held"


def test_gateway_add_is_filled_in_too(client):
    owner = factories.owned_gateway().owner
    client.get(reverse("accounts:landing"), {"gw": "01AB12345678"})
    client.force_login(owner)
    page = client.get(reverse("accounts:gateway_add")).content.decode()
    assert gateway_id_field(page) == "01AB12345678"


def test_the_sample_is_the_printed_sheets_layout(client):
    page = client.get(reverse("accounts:sample_sheet")).content.decode()
    assert 'data-role="credentials"' in page and "ここに記載されています" in page
    assert ">01AB12345678</text>" in page and ">abcedfghijk12</text>" in page
    assert "遠隔モニタリングサービス ご登録にあたって" in page and "販売店様へのお願い" in page
    assert 'data-qr="http://testserver/?gw=01AB12345678"' in page
