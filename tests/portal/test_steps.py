"""The one mechanism behind the three multi-step forms (accounts/views/steps.py): each
flow's confirmation page has the shared parts, its 「前に戻る」 goes to its last input page,
and registering leaves nothing of the input in the session, only the completion's handoff."""

import pytest
from django.urls import reverse

from essmon.dealers.views.entry import FLOW as DEALER_ENTRY
from essmon.portal.entry import FLOW as CUSTOMER_ENTRY
from essmon.portal.menu import GATEWAY_ADD
from tests import factories
from tests.journeys import agree_terms, form_data

pytestmark = pytest.mark.django_db


def customer_entry(client):
    agree_terms(client)
    client.post(reverse("accounts:entry_form"), form_data(factories.gateway()))
    return CUSTOMER_ENTRY


def dealer_entry(client):
    client.post(reverse("dealers:entry_terms"))
    client.post(reverse("dealers:entry_form"), factories.DEALER_FORM)
    return DEALER_ENTRY


def gateway_add(client):
    client.force_login(factories.customer())
    gateway = factories.gateway()
    client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gateway.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    site = {
        k: v
        for k, v in factories.REGISTRATION_FORM.items()
        if k.startswith("site_") or k in ("grid_connection_date", "received_date")
    }
    client.post(reverse("accounts:gateway_add_site"), site)
    return GATEWAY_ADD


FLOWS = pytest.mark.parametrize("start", [customer_entry, dealer_entry, gateway_add])


@FLOWS
def test_the_confirmation_page_has_the_shared_parts(client, start):
    flow = start(client)
    html = client.get(reverse(flow.confirm_url)).content.decode()
    assert "<h1>入力内容確認</h1>" in html
    assert "間違いがなければ「登録」ボタンをクリックしてください。" in html
    assert f'<form method="post" action="{reverse(flow.confirm_url)}">' in html
    assert '<button type="submit" name="register">登録</button>' in html
    assert '<button type="submit" name="back" class="secondary">前に戻る</button>' in html
    assert 'class="on" aria-current="step">入力内容確認</li>' in html


@FLOWS
def test_back_goes_to_the_last_input_page(client, start):
    flow = start(client)
    response = client.post(reverse(flow.confirm_url), {"back": "1"})
    assert response.url == reverse(flow.steps[-1].url)


@FLOWS
def test_registering_forgets_the_input_and_hands_over_to_the_completion_page(client, start):
    flow = start(client)
    kept = [flow.kept_key(step) for step in flow.steps]
    assert all(key in client.session for key in kept)
    response = client.post(reverse(flow.confirm_url), {"register": "1"})
    assert response.url == reverse(flow.done_url)
    for key in [*kept, flow.terms_key, flow.verified_key]:
        assert key not in client.session
    assert client.session[flow.done_key]
    assert client.get(response.url).status_code == 200
