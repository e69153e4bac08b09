"""Every page's forms as assistive technology reads them (issue 12 §6): each id an
``aria-describedby`` names exists, a field in error is marked invalid and described by its
error, and a page carries at most one ``role=alert``.

Every named URL outside the admin is requested by every kind of user with GET and with an empty POST (the
walk of tests/project/test_headers.py), plus the forms behind a step: so a new form is checked
without anyone listing it.
"""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from essmon.accounts.models import AccountToken
from essmon.accounts.tokens import issue_token
from tests import factories
from tests.access_world import ROLES, build_world, every_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


class Aria(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.described: list[tuple[str, str]] = []  # (element id, id it names)
        self.invalid: list[tuple[str, str]] = []  # (element id, its aria-describedby)
        self.alerts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if values.get("id"):
            self.ids.add(values["id"])
        for named in values.get("aria-describedby", "").split():
            self.described.append((values.get("id", tag), named))
        if values.get("aria-invalid") == "true":
            self.invalid.append((values.get("id", tag), values.get("aria-describedby", "")))
        if values.get("role") == "alert":
            self.alerts += 1


def aria_problems(html: str) -> list[str]:
    page = Aria()
    page.feed(html)
    problems = [
        f"{el} names #{named}, absent" for el, named in page.described if named not in page.ids
    ]
    problems += [
        f"{el} is invalid but not described by {el}_error"
        for el, described in page.invalid
        if f"{el}_error" not in described.split()
    ]
    if page.alerts > 1:
        problems.append(f"{page.alerts} role=alert")
    return problems


def _html(response) -> str:
    if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
        return ""
    return response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_every_page_names_only_ids_it_has_and_alerts_once(world, role):
    problems = []
    for url, methods in every_url(world):
        if url.startswith("/admin/"):
            # Django's own templates: its read-only password hash on the user page names
            # an id_password_helptext its fieldset template leaves out (Django's to fix)
            continue
        for method in methods:
            response = getattr(world.client_for(role), method)(url)
            problems += [f"{method.upper()} {url}: {p}" for p in aria_problems(_html(response))]
    assert problems == []


def test_the_forms_behind_a_step_too(client):
    refused = []
    # the registration forms, after 同意する
    for terms, form in [
        ("accounts:entry_terms", "accounts:entry_form"),
        ("dealers:entry_terms", "dealers:entry_form"),
    ]:
        client.post(reverse(terms))
        refused.append(client.post(reverse(form), {"email": "x"}))
    # the activation's password page, after 同意する
    user = factories.customer(is_active=False, activated_at=None)
    raw, _ = issue_token(user=user, purpose=AccountToken.Purpose.ACTIVATION, lifetime=timedelta(1))
    client.post(reverse("accounts:activate", kwargs={"token": raw}))
    refused.append(
        client.post(
            reverse("accounts:activate_password", kwargs={"token": raw}), {"password": "abc"}
        )
    )
    for response in refused:
        html = _html(response)
        assert 'id="error-summary"' in html, response.request["PATH_INFO"]
        assert html.count('role="alert"') == 1
        assert aria_problems(html) == []
        assert 'aria-invalid="true"' in html
