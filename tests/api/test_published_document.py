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
    """Log in as a person would and make a token with the page's form, with every scope
    the page offers that person."""
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
        scopes = re.findall(r'name="scopes" value="(\w+)"', form.text)
        assert "read" in scopes, form.text[:2000]
        made = browser.post(
            page,
            data={
                "csrfmiddlewaretoken": csrf,
                "name": "スクリプト",
                "scopes": scopes,
                "once": once,
            },
            headers={"Referer": f"{base}{page}"},
        )
        assert made.status_code == 200 and "token-value" in made.text, (made.url, made.text[:2000])
        return re.search(
            r'id="new-token" class="token-value" type="text" value="([^"]+)"', made.text
        ).group(1)


def walk(base: str, token: str) -> dict[str, int]:
    """Every operation of the document at ``base``, called with ``token``: {label: status}.

    Identifiers are learnt from answers, by the document's own paths: the items of an
    answer at ``…/alerts`` give ``alert_id`` to ``…/alerts/{alert_id}…``. Operations run as
    soon as the identifiers in their path are known, until none is left that can run. An
    answer of 404 is kept as such (an operation the caller may not use); any other
    answer must be a success valid against the document's schema for that status."""
    document = httpx.get(f"{base}{PREFIX}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    headers = {"Authorization": f"Bearer {token}"}
    paths = document["paths"]
    known: dict[str, str] = {}
    answered: dict[str, int] = {}

    def learn(path: str, answer: dict) -> None:
        items = answer.get("items") or []
        if not items:
            return
        for other in paths:
            found = re.fullmatch(re.escape(path) + r"/{(\w+)}(/.*)?", other)
            if found and "id" in items[0]:
                known.setdefault(found.group(1), str(items[0]["id"]))
        for name in re.findall(r"{(\w+)}", " ".join(paths)):
            if name in items[0]:
                known.setdefault(name, str(items[0][name]))

    pending = [(path, method) for path, operations in paths.items() for method in operations]
    progress = True
    while pending and progress:
        progress = False
        for path, method in list(pending):
            names = re.findall(r"{(\w+)}", path)
            if any(name not in known for name in names):
                continue
            pending.remove((path, method))
            progress = True
            operation = paths[path][method]
            url = path
            for name in names:
                url = url.replace("{" + name + "}", known[name])
            body = None
            if method != "get":
                content = operation["requestBody"]["content"]["application/json"]
                assert "example" in content, f"{method} {path}: document an example body"
                body = content["example"]
            response = httpx.request(method.upper(), f"{base}{url}", headers=headers, json=body)
            label = f"{method.upper()} {path}"
            answered[label] = response.status_code
            if response.status_code == 404:
                assert response.headers["Content-Type"] == "application/problem+json"
                continue
            assert response.status_code in (200, 201), (label, response.text[:300])
            status = str(response.status_code)
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": document["components"]})
            validator.validate(response.json())
            learn(path, response.json())
    assert not pending, f"never learnt the identifiers of {pending}"
    return answered


def test_an_owner_and_a_dealer_call_every_operation_from_the_document(live_server):
    """Two households, each with an open alert; the dealer maintains the second one's
    gateway. Between them the owner and the dealer call every operation with success; the
    one the owner may not use (acknowledging, the dealers' work) answers 404."""
    from django.utils import timezone

    from essmon.alerts.models import Alert
    from essmon.dealers.services.links import link_dealer

    password = "Passw0rdAbc"
    owner = factories.customer(email="script-owner@example.jp", password=password)
    own = factories.owned_gateway(owner=owner)
    reporting(own)
    neighbour = factories.customer(email="neighbour@example.jp")
    maintained = factories.owned_gateway(owner=neighbour)
    reporting(maintained)
    dealer = factories.dealer(email="script-dealer@example.jp", password=password)
    link_dealer(customer=neighbour, gateway=maintained, dealer=dealer)
    for gateway in (own, maintained):
        Alert.objects.create(
            gateway=gateway,
            kind="offline",
            severity="major",
            title="ゲートウェイからの通信が途絶えています",
            since=timezone.now(),
        )
    base = live_server.url
    owners = walk(base, make_token_on_the_page(base, owner.email, password, "/menu/api/tokens/"))
    dealers = walk(
        base, make_token_on_the_page(base, dealer.user.email, password, "/dealer/api/tokens/")
    )
    acknowledge = f"POST {PREFIX}/gateways/{{gateway_id}}/alerts/{{alert_id}}/acknowledge"
    assert owners == {**dict.fromkeys(owners, 200), acknowledge: 404, **created(owners)}
    assert dealers == {**dict.fromkeys(dealers, 200), **created(dealers)}
    assert set(owners) == set(dealers)
    assert len(owners) == 13


def created(answered: dict[str, int]) -> dict[str, int]:
    """The setting change asked for: 201."""
    return {
        label: 201
        for label in answered
        if label.endswith("/setting-changes") and label.startswith("POST")
    }
