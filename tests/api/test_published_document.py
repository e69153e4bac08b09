"""The issue's check, as a script: an owner and a dealer, each with a token made on their
page, call every operation of the public API knowing only the published OpenAPI document
(httpx against the live test server, no essmon code): each answers 200 with a body valid
against the document's schema, and the identifiers come from the answers themselves.

A write operation is called with its request body's documented ``example``; one without an
example fails here, so that a new operation is documented well enough to be called."""

from __future__ import annotations

import re

import httpx
import pytest
from jsonschema_rs import Draft202012Validator

from tests import factories
from tests.api_helpers import PREFIX, reporting

pytestmark = pytest.mark.django_db(transaction=True)


def make_token_on_the_page(base: str, email: str, password: str, page: str) -> str:
    """Log in as a person would and make a token with the page's form (read scope)."""
    with httpx.Client(base_url=base, follow_redirects=True) as browser:
        login = browser.get("/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        browser.post(
            "/login/",
            data={"csrfmiddlewaretoken": csrf, "email": email, "password": password},
            headers={"Referer": f"{base}/login/"},
        )
        form = browser.get(page)
        assert form.status_code == 200, form.text[:300]
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        once = re.search(r'name="once" value="([^"]+)"', form.text).group(1)
        made = browser.post(
            page,
            data={
                "csrfmiddlewaretoken": csrf,
                "name": "スクリプト",
                "scopes": "read",
                "once": once,
            },
            headers={"Referer": f"{base}{page}"},
        )
        assert made.status_code == 200 and "token-value" in made.text, (made.url, made.text[:2000])
        return re.search(
            r'id="new-token" class="token-value" type="text" value="([^"]+)"', made.text
        ).group(1)


def walk(base: str, token: str) -> dict[str, int]:
    """Every operation of the document at ``base``, called with ``token``: {label: status}."""
    document = httpx.get(f"{base}{PREFIX}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    headers = {"Authorization": f"Bearer {token}"}
    known: dict[str, str] = {}
    answered: dict[str, int] = {}
    # lists first: their answers name the objects the other operations take
    order = sorted(document["paths"].items(), key=lambda item: item[0].count("{"))
    for path, operations in order:
        for method, operation in operations.items():
            url = path
            for name in re.findall(r"{(\w+)}", path):
                assert name in known, f"no {name} learnt before {method} {path}"
                url = url.replace("{" + name + "}", known[name])
            body = None
            if method != "get":
                content = operation["requestBody"]["content"]["application/json"]
                assert "example" in content, f"{method} {path}: document an example body"
                body = content["example"]
            response = httpx.request(method.upper(), f"{base}{url}", headers=headers, json=body)
            answered[f"{method.upper()} {path}"] = response.status_code
            assert response.status_code in (200, 201, 202), (method, url, response.text[:300])
            status = str(response.status_code)
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": document["components"]})
            validator.validate(response.json())
            items = response.json().get("items", [])
            for key in ("gateway_id",):
                if items and key in items[0]:
                    known.setdefault(key, items[0][key])
    return answered


def test_an_owner_and_a_dealer_call_every_operation_from_the_document(live_server):
    from essmon.dealers.services.links import link_dealer

    password = "Passw0rdAbc"
    owner = factories.customer(email="script-owner@example.jp", password=password)
    gateway = factories.owned_gateway(owner=owner)
    reporting(gateway)
    dealer = factories.dealer(email="script-dealer@example.jp", password=password)
    link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    base = live_server.url
    tokens = {
        "owner": make_token_on_the_page(base, owner.email, password, "/menu/api/tokens/"),
        "dealer": make_token_on_the_page(base, dealer.user.email, password, "/dealer/api/tokens/"),
    }
    for who, token in tokens.items():
        answered = walk(base, token)
        assert len(answered) >= 5, (who, answered)
