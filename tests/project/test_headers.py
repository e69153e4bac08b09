"""The headers every response carries (docs/architecture.md, "Response headers"):
``Cache-Control: private, no-store`` on all of them, and on every HTML page the
Content-Security-Policy, with nothing in the page that the policy would refuse.

Every named URL of the project, admin included, is requested by every kind of user with
GET and POST, so a new URL is checked without anyone listing it.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.access_world import ROLES, build_world, every_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()  # the access matrix's people and objects


POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'"},
    "connect-src": {"'self'"},
    "form-action": {"'self'"},
    "base-uri": {"'self'"},
    "object-src": {"'none'"},
    "frame-ancestors": {"'none'"},
}
# the one page whose policy adds a source, and which (docs/architecture.md, "Response
# headers"): Swagger UI's style sheet draws its icons as data: images
POLICY_PER_PATH = {"/api/public/v1/docs": {**POLICY, "img-src": {"'self'", "data:"}}}


class Refused(HTMLParser):
    """What in a page the policy would refuse: inline script (a JSON data block is not
    run, so it may stay), event-handler attributes, javascript: URLs, inline styles and
    scripts, styles or images from another origin."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        inline_script = tag == "script" and not values.get("src")
        if (inline_script and values.get("type") != "application/json") or tag == "style":
            self.found.append(self.get_starttag_text())
        for name, value in attrs:
            value = (value or "").strip().lower()
            foreign = name in ("src", "href") and value.startswith(("http:", "https:", "//"))
            if (
                name.startswith("on")
                or name == "style"
                or value.startswith("javascript:")
                or (foreign and tag in ("script", "link", "img"))
            ):
                self.found.append(self.get_starttag_text())


def refused_in(html: str) -> list[str]:
    parser = Refused()
    parser.feed(html)
    return parser.found


def header_problems(response, path: str = "") -> list[str]:
    problems = []
    cache = {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}
    if not {"private", "no-store"} <= cache or "public" in cache:
        problems.append(f"Cache-Control: {response.get('Cache-Control')!r}")
    if not response.get("Content-Type", "").startswith("text/html"):
        return problems
    policy = {
        words[0]: set(words[1:])
        for words in (d.split() for d in response.get("Content-Security-Policy", "").split(";"))
        if words
    }
    for directive, sources in POLICY_PER_PATH.get(path, POLICY).items():
        if policy.get(directive) != sources:
            problems.append(f"CSP {directive}: {policy.get(directive)}")
    body = b"" if response.streaming else response.content
    problems += [f"refused: {tag}" for tag in refused_in(body.decode(errors="replace"))]
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_every_response_carries_the_headers(world, role, settings):
    settings.DEBUG = False
    problems = []
    urls = every_url(world)
    assert len(urls) > 80  # the walk found the site's URLs, the admin's included
    for url, methods in urls:
        for method in methods:
            client = world.client_for(role)
            response = getattr(client, method)(url)
            found = header_problems(response, url.split("?")[0])
            problems += [f"{method.upper()} {url} {p}" for p in found]
    assert problems == []


def test_the_registration_confirm_page_is_not_stored(client):
    # what an anonymous visitor typed (name, address, telephone) shown back to them
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    assert client.post(reverse("accounts:entry_form"), form).status_code == 302
    response = client.get(reverse("accounts:entry_confirm"))
    assert "御室 花子" in response.content.decode()
    assert header_problems(response) == []


def test_the_error_pages_need_nothing_the_policy_refuses():
    assert refused_in(render_to_string("500.html")) == []
    assert refused_in(render_to_string("404.html")) == []


@pytest.mark.django_db
def test_a_refused_csrf_token_gets_our_page_not_djangos(client):
    """Django's own CSRF page is English with an inline <style> the policy refuses; the
    test client skips CSRF checks, so a real client's POST is what shows it."""
    browser_like = Client(enforce_csrf_checks=True)
    response = browser_like.post(reverse("accounts:login"), {"email": "a@example.jp"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "送信を受け付けられませんでした" in html and "CSRF verification failed" not in html
    assert refused_in(html) == [] and header_problems(response) == []


def test_the_page_check_finds_what_the_policy_refuses():
    page = """<html><head><style>p{}</style><script>go()</script>
      <script src="https://cdn.example/x.js"></script></head>
      <body><p style="color:red">x</p><a href="javascript:go()">a</a><button onclick="go()">b</button>
      <script src="/static/js/ok.js"></script><script type="application/json">{}</script></body></html>"""
    assert len(refused_in(page)) == 6


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_tests_fail_on_what_the_policy_refuses(chromium, live_server):
    from tests.browsing import WatchedBrowser

    watched = WatchedBrowser(chromium)
    page = watched.new_page()
    page.goto(live_server.url + "/")
    assert watched.violations == []
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate("document.body.setAttribute('style', 'color: red')")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = true'; document.body.append(s); }"
        )
    assert page.evaluate("window.ran") is None
    watched.close()
    assert any("style-src" in v for v in watched.violations), watched.violations
    assert any("script-src" in v for v in watched.violations), watched.violations
