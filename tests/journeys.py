"""A person's way through the pages with the Django test client, for the tests that need
one as their starting point (お客様情報の登録)."""

from django.core import mail
from django.urls import reverse

from tests import factories


def agree_terms(client):
    response = client.post(reverse("accounts:entry_terms"))
    assert response.status_code == 302


def form_data(gateway, **overrides):
    return {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id, **overrides}


def register(client, gateway, **overrides):
    agree_terms(client)
    response = client.post(reverse("accounts:entry_form"), form_data(gateway, **overrides))
    assert response.status_code == 302, response.content.decode()
    assert response.url == reverse("accounts:entry_confirm")
    return client.post(reverse("accounts:entry_confirm"), {"register": "1"})


def provisional_registration(client):
    """A registration up to the password step: its gateway and the password page's URL."""
    gw = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    client.post(
        reverse("accounts:entry_form"), {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id}
    )
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    client.post(link)  # 同意する
    return gw, link + "password/"
