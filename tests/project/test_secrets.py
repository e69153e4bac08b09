"""Issue 11 §5: secrets at rest and in logs.

Mails with token links keep them only until delivered and the admin never shows bodies;
the sheet's gateway password never stays in a session or comes back in a page; data
files are owner-only; access-log lines carry no tokens; control characters are refused
in text fields and can never break a mail subject.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.urls import reverse

from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import (
    REMOVED_LINK,
    deliver_message,
    scrub_secret_links,
    unseal,
)
from tests import factories
from tests.services import free_port

pytestmark = pytest.mark.django_db

MAIL_TEMPLATES = (
    Path(__file__).resolve().parents[2] / "essmon/notifications/templates/notifications/mail"
)
# every route that a mail links to with a token, by its URL name
TOKEN_ROUTES = {
    "accounts:activate": {"token": "Tk-secret-1"},
    "accounts:activate_password": {"token": "Tk-secret-1"},
    "accounts:unlock": {"token": "Tk-secret-1"},
    "accounts:email_change_confirm": {"token": "Tk-secret-1"},
    "accounts:password_reset_confirm": {"uidb64": "MTI", "token": "cx1234-Tk-secret-1"},
    "dealers:staff_confirm": {"token": "Tk-secret-1"},
    "dealers:staff_accept": {"token": "Tk-secret-1"},
    "viewers:accept": {"token": "Tk-secret-1"},
}


@pytest.fixture
def operator(client):
    from essmon.accounts.models import User

    op = User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営")
    client.force_login(op)
    return op


# --- 1. the outbox ------------------------------------------------------------------


def test_every_token_link_in_a_mail_template_is_known():
    """A new mail with a token link must be listed above, so the scrub is tested for it."""
    used = set()
    for template in MAIL_TEMPLATES.glob("*.txt"):
        for name, args in re.findall(r"{% url '([\w:]+)' ([^%]*)%}", template.read_text()):
            if "token=" in args:
                used.add(name)
    assert used and used <= set(TOKEN_ROUTES)


@pytest.mark.parametrize("route", sorted(TOKEN_ROUTES))
def test_scrub_removes_each_token_link(settings, route):
    url = settings.BASE_URL + reverse(route, kwargs=TOKEN_ROUTES[route])
    plain = settings.BASE_URL + reverse("accounts:login")
    scrubbed = scrub_secret_links(f"下記の URL から:\n\n{url}\n\nログイン: {plain}\n")
    assert "Tk-secret-1" not in scrubbed and REMOVED_LINK in scrubbed
    assert plain in scrubbed  # links without a secret stay


def request_reset(client, captured, email: str) -> OutboxMessage:
    with captured(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": email})
    assert response.status_code == 302
    return OutboxMessage.objects.get(kind="password_reset", recipient=email)


def test_sent_reset_mail_keeps_no_token_and_the_admin_shows_no_body(
    client, operator, smtp_server, django_capture_on_commit_callbacks
):
    factories.customer(email="hanako@example.jp")
    message = request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")

    (received,) = smtp_server.wait_for(1)
    link = smtp_server.link(received, "/password-reset/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    page = client.get(link)  # the mailed link works: the form, on the link itself
    assert len(token) > 10 and page.status_code == 200 and "new_password1" in page.text

    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT and message.sent_at is not None
    assert token not in message.body and "/password-reset/" not in message.body
    assert REMOVED_LINK in message.body and "御室 花子 様" in message.body
    assert message.recipient == "hanako@example.jp" and message.kind == "password_reset"

    change = client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk]))
    changelist = client.get(reverse("admin:notifications_outboxmessage_changelist"))
    assert change.status_code == changelist.status_code == 200
    for page in (change, changelist):
        html = page.content.decode()
        assert "hanako@example.jp" in html
        assert "御室 花子 様" not in html and "本文" not in html


def test_a_pending_mail_is_not_readable_in_the_admin_but_is_delivered_whole(
    client, operator, smtp_server, django_capture_on_commit_callbacks, settings
):
    """While unsent the body must stay deliverable; the admin still does not show it."""
    settings.EMAIL_PORT = free_port()  # the mail server is down at first
    factories.customer(email="hanako@example.jp")
    message = request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.PENDING and message.attempts == 1
    # at rest the token is nowhere in plain text: the body has the link removed, and the
    # whole mail is only there sealed
    assert REMOVED_LINK in message.body and "/password-reset/" not in message.body
    token = re.search(r"/password-reset/[^/]+/([^/\s]+)/", unseal(message.sealed_body)).group(1)
    assert token not in message.sealed_body

    change = client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk]))
    assert token not in change.content.decode()
    search = client.get(reverse("admin:notifications_outboxmessage_changelist"), {"q": token})
    assert "hanako@example.jp" not in search.content.decode()  # the body is not searchable

    settings.EMAIL_PORT = smtp_server.port  # the server is back: the retry sends it whole
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.SENT
    (received,) = smtp_server.wait_for(1)
    assert token in smtp_server.body(received)
    message.refresh_from_db()
    assert token not in message.body and message.sealed_body == ""


def test_a_mail_sealed_under_another_secret_key_fails_plainly(
    client, smtp_server, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_PORT = free_port()  # down: the mail stays queued
    factories.customer(email="hanako@example.jp")
    message = request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    settings.EMAIL_PORT = smtp_server.port
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.FAILED
    message.refresh_from_db()
    assert "ESSMON_SECRET_KEY changed" in message.last_error
    assert not smtp_server.messages  # no mail whose link would not work


def test_registration_mail_is_scrubbed_once_sent(
    client, smtp_server, django_capture_on_commit_callbacks
):
    """The provisional mail, sent through the registration flow: no activation token kept."""
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    client.post(reverse("accounts:entry_form"), form)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:entry_confirm"))
    assert response.status_code == 302
    (received,) = smtp_server.wait_for(1)
    link = smtp_server.link(received, "/activate/")
    message = OutboxMessage.objects.get(kind="provisional_registration")
    assert message.state == OutboxMessage.State.SENT
    assert link not in message.body and "/activate/" not in message.body
    assert mail.outbox == []  # delivered by SMTP, not the test backend


# --- 2. the gateway password between steps -------------------------------------------


def decoded_sessions() -> list[dict]:
    from django.contrib.sessions.models import Session

    return [s.get_decoded() for s in Session.objects.all()]


def test_registration_keeps_no_gateway_password_in_session_or_page(client):
    gateway = factories.gateway()
    password = factories.GATEWAY_PASSWORD
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    assert client.post(reverse("accounts:entry_form"), form).status_code == 302

    sessions = decoded_sessions()
    assert sessions and all(password not in repr(s) for s in sessions)
    confirm = client.get(reverse("accounts:entry_confirm")).content.decode()
    assert password not in confirm and gateway.gateway_id in confirm
    back = client.get(reverse("accounts:entry_form")).content.decode()  # 前に戻る
    assert password not in back and "確認済み" in back and "御室邸" in back

    # a second 次に進む without retyping the password is fine for the same gateway ...
    again = {**form, "gateway_password": ""}
    assert client.post(reverse("accounts:entry_form"), again).status_code == 302
    # ... but not for another one
    other = factories.gateway()
    refused = client.post(reverse("accounts:entry_form"), {**again, "gateway_id": other.gateway_id})
    assert refused.status_code == 200 and "必須" in refused.content.decode()
    client.post(reverse("accounts:entry_form"), again)

    assert client.post(reverse("accounts:entry_confirm")).status_code == 302
    gateway.refresh_from_db()
    assert gateway.state == gateway.State.HELD
    assert all(password not in repr(s) for s in decoded_sessions())


def test_a_wrong_password_is_not_rendered_back(client):
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    response = client.post(reverse("accounts:entry_form"), {**form, "name": ""})  # 氏名 missing
    assert response.status_code == 200
    assert factories.GATEWAY_PASSWORD not in response.content.decode()


def test_the_final_step_rechecks_the_marker(client):
    import time_machine
    from django.utils import timezone

    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id}
    client.post(reverse("accounts:entry_form"), form)

    # another registration took the gateway meanwhile: refused at 登録
    gateway.state = gateway.State.CLAIMED
    gateway.save()
    response = client.post(reverse("accounts:entry_confirm"))
    assert response.status_code == 200 and "登録できません" in response.content.decode()
    gateway.state = gateway.State.UNCLAIMED
    gateway.save()

    # a check over an hour old is asked again
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=2)):
        response = client.post(reverse("accounts:entry_confirm"))
    page = response.content.decode()
    assert response.status_code == 200 and "もう一度ゲートウェイパスワードを入力" in page
    gateway.refresh_from_db()
    assert gateway.state == gateway.State.UNCLAIMED


def test_a_forged_or_stale_marker_opens_nothing():
    from essmon.gateways.services.claims import GatewayError, verified_gateway, verified_marker

    gateway, other = factories.gateway(), factories.gateway()
    marker = verified_marker(gateway=gateway)
    assert verified_gateway(marker=marker, gateway_id=gateway.gateway_id) == gateway
    for forged in (
        marker,  # vouches for another gateway
        {**marker, "gateway_id": other.gateway_id},
        {**marker, "gateway_id": other.gateway_id, "binding": "0" * 64},
        {**marker, "gateway_id": other.gateway_id, "verified_at": "2099-01-01T00:00:00+00:00"},
        None,
        "text",
    ):
        with pytest.raises(GatewayError):
            verified_gateway(marker=forged, gateway_id=other.gateway_id)
    gateway.password_hash = factories._gateway_hash("reprovisioned99")
    gateway.save()  # the sheet was re-provisioned: the old check no longer counts
    with pytest.raises(GatewayError):
        verified_gateway(marker=marker, gateway_id=gateway.gateway_id)


def test_add_gateway_keeps_no_password_in_session_or_page(client):
    owner = factories.customer()
    client.force_login(owner)
    gateway = factories.gateway()
    password = factories.GATEWAY_PASSWORD
    response = client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gateway.gateway_id, "gateway_password": password},
    )
    assert response.status_code == 302
    assert all(password not in repr(s) for s in decoded_sessions())
    for name in ("accounts:gateway_add", "accounts:gateway_add_site"):
        assert password not in client.get(reverse(name)).content.decode()
    site = {k: v for k, v in factories.REGISTRATION_FORM.items() if k.startswith("site_")}
    assert client.post(reverse("accounts:gateway_add_site"), site).status_code == 302
    assert password not in client.get(reverse("accounts:gateway_add_confirm")).content.decode()
    assert client.post(reverse("accounts:gateway_add_confirm")).status_code == 302
    gateway.refresh_from_db()
    assert gateway.owner == owner and gateway.state == gateway.State.CLAIMED


def test_clear_sessions_job_deletes_expired_sessions():
    from datetime import timedelta

    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from essmon.core.scheduler import JOBS, run_due_jobs

    old, fresh = SessionStore(), SessionStore()
    old["registration_form"] = {"name": "御室 花子"}
    old.create()
    fresh.create()
    Session.objects.filter(session_key=old.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    job = next(j for j in JOBS if j.name == "clear-sessions")
    assert run_due_jobs((job,)) == ["clear-sessions"]
    assert list(Session.objects.values_list("session_key", flat=True)) == [fresh.session_key]


# --- 3. files and the access log ------------------------------------------------------


def test_access_log_lines_carry_no_token(tmp_path):
    """gunicorn's own access() with the logger essmon serve passes as --logger-class."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from essmon.core.accesslog import RedactingLogger

    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", '%(r)s %(U)s "%(f)s" "%({referer}i)s" %(s)s')
    logger = RedactingLogger(cfg)
    referer = "https://essmon.example.jp/password-reset/MTI/cx1234-Tk9secret/"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/activate/Tk9secret/password/?step=2",
        "PATH_INFO": "/activate/Tk9secret/password/",
        "QUERY_STRING": "step=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": referer,
    }
    request = SimpleNamespace(headers=[("REFERER", referer)])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=5))
    logger.access(
        response,
        SimpleNamespace(headers=[]),
        {
            **environ,
            "RAW_URI": "/monitoring/01AB00000001/",
            "PATH_INFO": "/monitoring/x/",
            "HTTP_REFERER": "-",
        },
        timedelta(milliseconds=5),
    )
    for handler in logger.access_log.handlers:
        handler.flush()
    first, second = (tmp_path / "access.log").read_text().splitlines()
    assert "Tk9secret" not in first
    assert "GET /activate/[redacted]/password/?step=2 HTTP/1.1" in first
    assert "https://essmon.example.jp/password-reset/[redacted]/[redacted]/" in first
    assert second.startswith("GET /monitoring/01AB00000001/ HTTP/1.1")  # others unchanged


# paths that do not resolve as they are, yet carry a live token: no trailing slash
# (APPEND_SLASH answers 301 and the access log keeps the path), text glued to a link
UNRESOLVED_TOKEN_PATHS = {
    "/activate/SeCrEtToKeN123": "/activate/[redacted]",
    "/activate/SeCrEtToKeN123/%E3%80%82": "/activate/[redacted]/[redacted]",
    "/unlock/SeCrEtToKeN123": "/unlock/[redacted]",
    "/menu/account/email/SeCrEtToKeN123": "/menu/account/email/[redacted]",
    "/password-reset/MQ/abc-SeCrEtToKeN123": "/password-reset/[redacted]/[redacted]",
    "/dealer/staff/confirm/SeCrEtToKeN123?x=1": "/dealer/staff/confirm/[redacted]?x=1",
    "/act%69vate/SeCrEtToKeN123": "/act%69vate/[redacted]",
    "/act%69vate/SeCrEtToKeN123/%E3%80%82": "/activate/[redacted]",
}


@pytest.mark.parametrize("path", sorted(UNRESOLVED_TOKEN_PATHS))
def test_a_token_path_that_does_not_resolve_is_redacted_too(path):
    from essmon.core.redact import redact_path

    assert redact_path(path) == UNRESOLVED_TOKEN_PATHS[path]


@pytest.mark.parametrize(
    "path", ["/activate/done", "/password-reset/sent", "/menu/account/email", "/no/such/page"]
)
def test_paths_without_a_token_stay_as_they_are(path):
    from essmon.core.redact import redact_path

    assert redact_path(path) == path


def test_the_slashless_token_path_is_redirected_and_logged_without_its_token(client, tmp_path):
    """Through gunicorn's logger class: the 301 Django answers is an access-log line."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from essmon.core.accesslog import RedactingLogger

    assert client.get("/activate/SeCrEtToKeN123").status_code == 301
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", '%(r)s %(U)s "%({referer}i)s" %(s)s')
    logger = RedactingLogger(cfg)
    for path in UNRESOLVED_TOKEN_PATHS:
        bare = path.partition("?")[0]
        referer = f"https://essmon.example.jp{path}"
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": path,
            "PATH_INFO": bare,
            "QUERY_STRING": path.partition("?")[2],
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "192.0.2.1",
            "HTTP_REFERER": referer,
        }
        logger.access(
            SimpleNamespace(status="301 Moved Permanently", sent=0, headers=[]),
            SimpleNamespace(headers=[("REFERER", referer)]),
            environ,
            timedelta(milliseconds=5),
        )
    for handler in logger.access_log.handlers:
        handler.flush()
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == len(UNRESOLVED_TOKEN_PATHS)
    for line, redacted in zip(lines, UNRESOLVED_TOKEN_PATHS.values(), strict=True):
        assert "SeCrEtToKeN123" not in line
        assert f"GET {redacted} HTTP/1.1" in line


@pytest.mark.parametrize("path", sorted(UNRESOLVED_TOKEN_PATHS))
def test_django_request_logs_carry_no_unresolved_token(path):
    import logging

    from essmon.core.redact import TokenPathFilter

    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (path,), None
    )
    assert TokenPathFilter().filter(record)
    assert "SeCrEtToKeN123" not in record.getMessage()
    assert record.getMessage() == f"Not Found: {UNRESOLVED_TOKEN_PATHS[path]}"


def test_an_existing_data_directory_is_narrowed_at_start(tmp_path):
    """The real start-up path (`essmon migrate`, which `essmon serve` runs first)."""
    import os
    import stat
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSMON_", "DJANGO_"))}
    env.update(ESSMON_DATA_DIR=str(data))
    subprocess.run(
        [sys.executable, "-m", "essmon.cli", "migrate", "-v0"],
        env=env,
        check=True,
        timeout=120,
        umask=0o022,
    )
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


# --- 4. control characters --------------------------------------------------------------

# (a lone surrogate cannot come in a form post: Django decodes one as U+FFFD; see below)
CONTROL_SAMPLES = [
    "御室\r\n邸",
    "御室\n邸",
    "御室\r邸",
    "御室\t邸",
    "御室\x00邸",
    "御室\x7f邸",
    "御室\x85邸",
    "御室\u009b邸",
]


@pytest.mark.parametrize("value", CONTROL_SAMPLES)
def test_registration_refuses_control_characters_in_the_site_name(client, value):
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id, "site_name": value}
    response = client.post(reverse("accounts:entry_form"), form)
    assert response.status_code == 200
    assert "使用できない制御文字(改行・タブなど)が含まれています" in response.content.decode()
    gateway.refresh_from_db()
    assert gateway.state == gateway.State.UNCLAIMED


def essmon_form_classes() -> list[type]:
    import importlib
    import pkgutil

    from django import forms

    import essmon

    for module in pkgutil.walk_packages(essmon.__path__, "essmon."):
        if "forms" in module.name or module.name.endswith(".views") or ".views." in module.name:
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return [c for c in set(subclasses(forms.BaseForm)) if c.__module__.startswith("essmon.")]


def test_every_form_and_admin_refuses_control_characters():
    """One rule for all: every essmon form and every essmon admin page takes it."""
    from django.contrib import admin

    from essmon.core.text import SafeTextAdminMixin, SafeTextMixin

    found = essmon_form_classes()
    assert len(found) > 15
    assert [c for c in found if not issubclass(c, SafeTextMixin)] == []
    ours = [a for m, a in admin.site._registry.items() if m.__module__.startswith("essmon.")]
    assert len(ours) > 15
    assert [a for a in ours if not isinstance(a, SafeTextAdminMixin)] == []
    for model_admin in ours:
        assert all(issubclass(i, SafeTextAdminMixin) for i in model_admin.inlines)


@pytest.mark.parametrize(
    ("form_path", "data", "field"),
    [
        ("essmon.dealers.forms.StaffForm", {"name": "保守\n太郎", "email": "t@x.jp"}, "name"),
        ("essmon.portal.forms.SiteForm", {"site_name": "a\x1bb"}, "site_name"),
        (
            "essmon.accounts.forms.LoginForm",
            {"email": "a@x.jp\r\nBcc: b@x.jp", "password": "p"},
            "email",
        ),
        (
            "essmon.accounts.forms.EmailChangeForm",
            {"email": "a@x\r\n.jp", "email_confirm": "a"},
            "email",
        ),
        ("essmon.portal.forms.SiteForm", {"site_name": "御室\ud800邸"}, "site_name"),
        (
            "essmon.dealers.forms_links.DealerPairForm",
            {"dealer_code": "D\u00850001"},
            "dealer_code",
        ),
    ],
)
def test_forms_across_apps_refuse_control_characters(form_path, data, field):
    from django.utils.module_loading import import_string

    form = import_string(form_path)(data)
    assert not form.is_valid()
    assert any("制御文字" in e for e in form.errors[field]), form.errors


def test_a_comment_keeps_its_line_breaks_but_not_other_controls(client):
    from essmon.alerts.forms import AcknowledgeForm

    assert AcknowledgeForm({"comment": "明日訪問します。\r\n部品を持参します。\t以上"}).is_valid()
    refused = AcknowledgeForm({"comment": "明日\x07訪問"})
    assert not refused.is_valid()
    assert refused.errors["comment"] == [
        "使用できない制御文字が含まれています。取り除いてから入力してください。"
    ]


def test_the_admin_refuses_a_site_name_with_a_line_break(client, operator):
    gateway = factories.owned_gateway()
    site = gateway.site
    url = reverse("admin:gateways_site_change", args=[site.pk])
    form = {
        "owner": site.owner.pk,
        "name": "御室\r\n邸",
        "postal_code": site.postal_code,
        "prefecture": site.prefecture,
        "address_rest": site.address_rest,
    }
    response = client.post(url, form)
    assert response.status_code == 200 and "制御文字" in response.content.decode()
    site.refresh_from_db()
    assert site.name == "御室邸"


def test_a_factory_list_with_a_control_character_is_refused(tmp_path):
    from essmon.gateways.services.factory_list import GatewayListError, parse_gateway_csv

    path = tmp_path / "factory.csv"
    path.write_text(
        "gateway_id,password,model,part_number\n01AB00000001,abcd2345efgh,KP-GWBT-A,P\x07N\n"
    )
    with pytest.raises(GatewayListError, match="2行目: part_number に制御文字が含まれています"):
        parse_gateway_csv(path)


def test_a_stored_site_name_with_line_breaks_still_gets_its_alert_mail(
    smtp_server, django_capture_on_commit_callbacks
):
    """Rows stored before the rule: the subject is built on one line, the mail goes out."""
    from datetime import timedelta

    from django.utils import timezone

    from essmon.alerts.engine import evaluate_alerts
    from essmon.telemetry.models import GatewayLiveState

    gateway = factories.owned_gateway(site_name="御室\r邸\n2号")
    GatewayLiveState.objects.create(
        gateway=gateway, last_seen_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts(now=timezone.now())
    (received,) = smtp_server.wait_for(1)
    assert received["To"] == gateway.owner.email
    assert received["Subject"].endswith(f"({gateway.gateway_id} 御室 邸 2号)")
    message = OutboxMessage.objects.get(kind="alert_opened")
    assert message.state == OutboxMessage.State.SENT and message.last_error == ""
    assert "\r" not in message.subject and "\n" not in message.subject


def test_a_password_reset_keeps_no_token_in_any_session(client, django_capture_on_commit_callbacks):
    """Django's own view parks the token in the session (…/set-password/); an abandoned
    reset left a live token in django_session. Here the form is on the mailed URL."""
    user = factories.customer(email="hanako@example.jp")
    request_reset(client, django_capture_on_commit_callbacks, "hanako@example.jp")
    link = re.search(r"https?://\S*/password-reset/\S+/", mail.outbox[-1].body).group(0)
    token = link.rstrip("/").rsplit("/", 1)[1]
    path = link[link.index("/password-reset/") :]
    assert client.get(path).status_code == 200
    new = "Sakura2026x"
    done = client.post(path, {"new_password1": new, "new_password2": new})
    assert done.status_code == 302 and done["Location"] == reverse(
        "accounts:password_reset_complete"
    )
    rows = [s.get_decoded() for s in Session.objects.all()]
    assert not any(token in repr(row) for row in rows), rows
    user.refresh_from_db()
    assert user.check_password(new)
    again = client.get(path)  # the new password voids the link
    assert again.status_code == 200 and "new_password1" not in again.text


def test_access_log_lines_carry_no_api_token_sent_as_basic_or_pasted_into_a_url(tmp_path):
    """``curl -u essmon_pat_…:`` sends the token as a Basic user name, which gunicorn's
    %(u)s reads out; a person may paste a token into a query string."""
    import base64
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from essmon.core.accesslog import RedactingLogger

    token = "essmon_pat_Zq3xXSecretPart-_9"
    basic = "Basic " + base64.b64encode(f"{token}:".encode()).decode()
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set(
        "access_log_format",
        '%(h)s %(l)s %(u)s "%(r)s" %(U)s %(q)s "%(f)s" "%({authorization}i)s" '
        '"%({cookie}i)s" %(s)s',
    )
    logger = RedactingLogger(cfg)
    query = f"token={token}&x=1"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/public/v1/gateways?{query}",
        "PATH_INFO": "/api/public/v1/gateways",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_AUTHORIZATION": basic,
        "HTTP_REFERER": f"https://tools.example.jp/?t={token}",
    }
    request = SimpleNamespace(headers=[("AUTHORIZATION", basic), ("COOKIE", "sessionid=s3ss10n")])
    response = SimpleNamespace(status="401 Unauthorized", sent=10, headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()
    (line,) = (tmp_path / "access.log").read_text().splitlines()
    assert "SecretPart" not in line and basic.split()[1] not in line, line
    assert "s3ss10n" not in line
    assert line.startswith("192.0.2.1 - - ")
    assert "token=[redacted]&x=1" in line
