from __future__ import annotations

import email
import email.policy
import importlib
import os
import re
import threading
from pathlib import Path

import pytest

from tests.services import CHROMIUM, free_port, require
from tests.waiting import wait_until

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


# --- a real SMTP server --------------------------------------------------------


class SmtpSink:
    """aiosmtpd on a free local port, keeping every message it accepts."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler protocol
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)
        return "250 OK"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list:
        def arrived() -> list:
            with self._lock:
                return list(self.messages) if len(self.messages) >= count else []

        return wait_until(arrived, timeout, f"{count} mails at the SMTP sink")

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["To"]]

    @staticmethod
    def body(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def link(message, path_fragment: str) -> str:
        found = re.search(
            r"https?://\S*" + re.escape(path_fragment) + r"\S*", SmtpSink.body(message)
        )
        assert found, f"no link containing {path_fragment!r} in mail"
        return found.group(0)


@pytest.fixture
def smtp_server(settings):
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        require(False, "aiosmtpd")
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield sink
    sink.stop()


# --- a real browser ---------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    require(os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def browser(chromium):
    """Chromium for one test, which fails if any page broke the Content Security Policy:
    the pages must work with the policy on, and a blocked script or style is a broken page."""
    from tests.browsing import WatchedBrowser

    watched = WatchedBrowser(chromium)
    yield watched
    watched.close()
    assert not watched.violations, "Content Security Policy violations:\n" + "\n".join(
        watched.violations
    )


class Shots:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def _tab(browser, live_server, **context_options):
    context = browser.new_context(locale="ja-JP", **context_options)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.base_url = live_server.url
    return context, tab


@pytest.fixture
def page(browser, live_server):
    context, tab = _tab(browser, live_server, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()


@pytest.fixture
def customer_page(browser, live_server):
    """Another person at another computer: a fresh context, sharing no cookies."""
    context, tab = _tab(browser, live_server, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()


@pytest.fixture
def mobile_page(browser, live_server):
    context, tab = _tab(
        browser, live_server, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    yield tab
    context.close()


@pytest.fixture
def shots(request):
    return Shots(request.node.name.replace("test_", "").replace("[", "-").rstrip("]"))


# --- data from migrations in transactional tests ------------------------------------


@pytest.fixture(autouse=True)
def _published_terms(request):
    """Transactional tests end by emptying every table, migration data included; the
    terms of use and the fault catalogue are the rows the service needs, so make them again.

    (serialized_rollback is no help here: once Playwright's sync API runs an event loop in
    the test thread, Django gives the test a new connection without the serialized copy.)"""
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    _make_terms_v1()
    for later in ("0007_dealer_terms_1_1", "0010_dealer_terms_1_2"):
        importlib.import_module(f"essmon.accounts.migrations.{later}").create(apps, None)
    importlib.import_module("essmon.alerts.migrations.0002_fault_catalogue").load(apps, None)


def _make_terms_v1() -> None:
    """The rows migrations 0002 and 0005 write, with today's model (their functions take the
    historical one, whose ``published_at`` became ``effective_at``)."""
    from django.utils import timezone

    from essmon.accounts.models import TermsVersion

    customers = importlib.import_module("essmon.accounts.migrations.0002_terms_v1")
    dealers = importlib.import_module("essmon.accounts.migrations.0005_dealer_terms_v1")
    for audience, title, body, purpose in (
        (
            "customer",
            "遠隔モニタリングサービス利用規約",
            customers.TERMS_BODY,
            customers.PRIVACY_PURPOSE,
        ),
        (
            "dealer",
            "遠隔モニタリングサービス 販売店様利用規約",
            dealers.DEALER_TERMS_BODY,
            dealers.DEALER_PRIVACY_PURPOSE,
        ),
    ):
        TermsVersion.objects.get_or_create(
            audience=audience,
            kind=TermsVersion.Kind.TERMS,
            version="1.0",
            defaults={
                "title": title,
                "body": body,
                "privacy_purpose": purpose,
                "effective_at": timezone.now(),
            },
        )


# --- a test client whose requests commit -------------------------------------------


@pytest.fixture
def client():
    """Django's test client, but each request ends like a real one: its on-commit
    callbacks (mail delivery, task enqueues) run when the response is returned."""
    from django.test import Client, TestCase

    class CommittingClient(Client):
        def request(self, **request):
            with TestCase.captureOnCommitCallbacks(execute=True):
                return super().request(**request)

    return CommittingClient()


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto of the test's own (tests/mosquitto.py), stopped after it."""
    from tests.mosquitto import Mosquitto

    made = Mosquitto(tmp_path / "mosquitto")
    made.start()
    yield made
    made.stop()


# --- the PostgreSQL pass ------------------------------------------------------------

DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup"}


def pytest_collection_modifyitems(config, items):
    """A module marked ``engine_independent`` is left out of the PostgreSQL pass (Makefile):
    refuse the mark on a test that asks for the test database, which would then be tested on
    SQLite only. (One that uses the database without asking is stopped by pytest-django.)"""
    for item in items:
        if item.get_closest_marker("engine_independent") and (
            item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames)
        ):
            raise pytest.UsageError(f"{item.nodeid} is engine_independent but uses the database")
