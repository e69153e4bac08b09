"""The one-time value of the pages that show a new secret once (アクセストークン, Webhook):
a reload of the POST makes nothing a second time, and a page opened before the value
existed (open across a deploy) or with an odd value still works, on both pages alike."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from essmon.api.forms import TokenForm
from essmon.api.models import AccessToken
from essmon.webhooks.forms import EndpointForm
from essmon.webhooks.models import Endpoint
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]


def _token_page(client, owner):
    """(URL, the form's data without its one-time value, how many the owner has)"""
    return (
        "/menu/api/tokens/",
        {"name": "家計簿", "scopes": ["read"]},
        lambda: AccessToken.objects.filter(user=owner).count(),
    )


def _webhook_page(client, owner):
    return (
        reverse("webhooks:menu"),
        {"url": "http://127.0.0.1:9/in", "event_types": ["alert.opened"]},
        lambda: Endpoint.objects.filter(owner=owner).count(),
    )


PAGES = [_token_page, _webhook_page]


@pytest.mark.parametrize("page", PAGES)
def test_a_reload_of_the_page_showing_the_secret_makes_nothing_more(client, page):
    owner = factories.customer()
    client.force_login(owner)
    url, data, count = page(client, owner)
    once = client.get(url).context["form"].initial["once"]
    assert len(once) <= 32  # the column's length
    first = client.post(url, {**data, "once": once})
    assert first.status_code == 200 and count() == 1
    again = client.post(url, {**data, "once": once})  # the browser's 「再送信」
    assert again.status_code == 400 and "同じ画面から2回送信されました" in again.content.decode()
    assert count() == 1
    # a new page (a new value) makes another
    fresh = client.get(url).context["form"].initial["once"]
    assert fresh != once
    assert client.post(url, {**data, "once": fresh}).status_code == 200 and count() == 2


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("once", [None, "", "x" * 500, "改行\nを含む"])
def test_a_page_without_a_fitting_value_still_makes_one(client, page, once):
    """A page opened before the deploy that added the value sends none: its holder must get
    the token or endpoint asked for, not an error about a field never shown to them."""
    owner = factories.customer()
    client.force_login(owner)
    url, data, count = page(client, owner)
    if once is not None:
        data["once"] = once
    response = client.post(url, data)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert count() == 1


def test_both_pages_use_the_one_field():
    from essmon.core.once import FormOnceField

    token = TokenForm(scopes=("read",), today=date.today())
    endpoint = EndpointForm()
    assert isinstance(token.fields["once"], FormOnceField)
    assert isinstance(endpoint.fields["once"], FormOnceField)
