"""Who people can turn to and who our mails come from (issue 12 §3): the support contact on
every page, the error pages, the manual and in every mail; the sender on the pages that ask
people to let our mails through; and the alert mails saying only what is true (§6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from essmon.alerts import engine as alerts
from essmon.alerts.models import Kind, MailOptOut, Severity
from essmon.core.errors import server_error
from essmon.dealers.models import DealerLink, MaintenanceStaff
from essmon.notifications.services import queue_mail
from tests import factories
from tests.journeys import register

pytestmark = pytest.mark.django_db

SUPPORT = {
    "SUPPORT_NAME": "蓄電システム お客様相談室",
    "SUPPORT_PHONE": "0120-123-456",
    "SUPPORT_HOURS": "平日 9:00〜17:00",
    "SUPPORT_URL": "https://support.example.jp/essmon/",
    "SUPPORT_EMAIL": "support@example.jp",
}


@pytest.fixture
def contact(settings):
    for key, value in SUPPORT.items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "遠隔モニタリングサービス <no-reply@mail.example.jp>"
    return settings


def assert_contact(html: str) -> None:
    for value in (SUPPORT["SUPPORT_NAME"], SUPPORT["SUPPORT_HOURS"], SUPPORT["SUPPORT_URL"]):
        assert value in html, value
    # the phone as written, linked for a tap (international form: a valid Japanese number)
    assert '<a href="tel:+81120123456">0120-123-456</a>' in html
    assert 'href="mailto:support@example.jp"' in html


def test_the_footer_of_every_page_shows_the_support_contact(client, contact):
    for url in (reverse("accounts:landing"), reverse("accounts:login"), reverse("accounts:manual")):
        page = client.get(url).content.decode()
        footer = page[page.index('<footer class="site-footer">') :]
        assert_contact(footer)


def test_the_demo_defaults_are_plainly_demo_values(client):
    footer = client.get(reverse("accounts:landing")).content.decode()
    assert "(デモ・架空)" in footer and "support.essmon.example" in footer


@pytest.mark.parametrize("status", [400, 404, 403])
def test_error_pages_name_the_contact_they_send_people_to(client, contact, status):
    if status == 400:
        response = client.get("/", HTTP_HOST="not-ours.example")  # DisallowedHost
    elif status == 404:
        response = client.get("/no-such-page/")
    else:
        from django.core.exceptions import PermissionDenied
        from django.views.defaults import permission_denied

        request = RequestFactory().get("/")
        response = permission_denied(request, PermissionDenied())
    assert response.status_code == status
    html = response.content.decode()
    assert "お問い合わせ窓口へご連絡ください" in html
    body = html[html.index("<main") : html.index("</main>")]
    assert_contact(body)


def test_csrf_failure_page_names_the_contact(contact):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(reverse("accounts:login"), {"email": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "送信を受け付けられませんでした" in html
    assert_contact(html[html.index("<main") : html.index("</main>")])


def test_the_500_page_names_the_contact_without_a_request_context(contact):
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "ただいま表示できません" in html and "お問い合わせ窓口へご連絡ください" in html
    assert_contact(html)


def test_the_manual_has_the_contact_and_the_sender(client, contact):
    html = client.get(reverse("accounts:manual")).content.decode()
    section = html[html.index('id="contact"') : html.index("</article>")]
    assert_contact(section)
    assert "no-reply@mail.example.jp" in html and "mail.example.jp" in html


def test_the_registration_completion_page_names_the_sender_and_its_domain(client, contact):
    response = register(client, factories.gateway())
    assert response.url == reverse("accounts:entry_done")
    html = client.get(response.url).content.decode()
    note = html[html.index('data-testid="mail-sender-note"') :]
    note = note[: note.index("</div>")]
    assert '送信元アドレス: <span class="sender-address">no-reply@mail.example.jp</span>' in note
    assert 'ドメイン: <span class="sender-address">mail.example.jp</span>' in note
    assert "ドコモ・au・ソフトバンク" in note


@pytest.mark.parametrize("url_name", ["dealers:entry_done", "accounts:password_reset_sent"])
def test_other_pages_that_ask_to_allow_our_mail_name_the_sender(client, contact, url_name):
    from essmon.dealers.views.entry import DONE_KEY

    session = client.session
    session[DONE_KEY] = "shop@example.jp"
    session.save()
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="mail-sender-note"' in html
    assert "no-reply@mail.example.jp" in html and ">mail.example.jp<" in html


def test_every_mail_ends_with_the_signature_over_real_smtp(
    contact, smtp_server, django_capture_on_commit_callbacks
):
    user = factories.customer(email="hanako@example.jp")
    with django_capture_on_commit_callbacks(execute=True):
        queue_mail(
            recipient=user.email,
            kind="email_changed_notice",
            context={"user": user, "old_email": "old@example.jp"},
        )
    (received,) = smtp_server.wait_for(1)
    body = smtp_server.body(received)
    signature = body[body.index("――――") :]
    for value in (
        SUPPORT["SUPPORT_NAME"],
        "電話: 0120-123-456(受付 平日 9:00〜17:00)",
        "メール: support@example.jp",
        SUPPORT["SUPPORT_URL"],
        "送信専用のアドレス(no-reply@mail.example.jp)",
    ):
        assert value in signature, value
    assert "至急下記のお問い合わせ窓口へご連絡ください" in body
    assert body.count("送信専用") == 1  # the templates' own no-reply lines went to the signature


def test_every_mail_kind_has_a_japanese_name_for_the_admin():
    from pathlib import Path

    import essmon.notifications
    from essmon.notifications.models import MAIL_KINDS

    folder = Path(essmon.notifications.__file__).parent / "templates/notifications/mail"
    assert {t.stem for t in folder.glob("[!_]*.txt")} <= set(MAIL_KINDS)


def test_the_favicon_is_served_at_the_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO
    page = client.get(reverse("accounts:landing")).content.decode()
    assert '<link rel="icon" href="/favicon.ico" sizes="any">' in page


def test_no_mail_template_has_a_no_reply_line_of_its_own():
    from pathlib import Path

    import essmon.notifications

    folder = Path(essmon.notifications.__file__).parent / "templates/notifications/mail"
    for template in folder.glob("[!_]*.txt"):
        assert "送信専用" not in template.read_text(), template.name


# --- the alert mails (issue 12 §6) ---------------------------------------------------


def open_offline(gateway, **overrides):
    return alerts.open_alert(
        gateway=gateway,
        kind=Kind.OFFLINE,
        severity=Severity.MAJOR,
        since=timezone.now() - timedelta(minutes=20),
        title="ゲートウェイからの通信が途絶えています",
        **overrides,
    )


def received(smtp_server, address: str, count: int) -> str:
    smtp_server.wait_for(count)
    (message,) = smtp_server.to(address)
    return smtp_server.body(message).replace("\r\n", "\n")


def test_owner_alert_mail_without_a_dealer(
    contact, smtp_server, django_capture_on_commit_callbacks
):
    gateway = factories.owned_gateway()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        open_offline(gateway)
    body = received(smtp_server, gateway.owner.email, 1)
    assert body.startswith(f"{gateway.owner.name} 様\n")
    assert "重要度: 要確認(通信の途絶です。蓄電システムの故障とは限りません)" in body
    assert "故障" not in body.replace("故障とは限りません", "")
    assert "販売店様の保守担当者様にも" not in body and "保守担当者様と" not in body
    assert "保守を任せている販売店様が登録されていません" in body


def test_owner_alert_mail_names_the_dealers_told(
    contact, smtp_server, django_capture_on_commit_callbacks
):
    gateway = factories.owned_gateway()
    told = factories.dealer(email="boss@first.example.jp", company="洛南電設")
    silent = factories.dealer(email="boss@second.example.jp", company="伏見エネルギー")
    MaintenanceStaff.objects.filter(dealer=silent).update(confirmed_at=None)
    for dealer in (told, silent):
        DealerLink.objects.create(gateway=gateway, dealer=dealer, created_by=gateway.owner)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        alerts.open_alert(
            gateway=gateway,
            kind=Kind.FAULT,
            code="E101",
            severity=Severity.MAJOR,
            since=timezone.now(),
            title="E101 蓄電池の異常",
        )
    owner_body = received(smtp_server, gateway.owner.email, 2)
    assert "重要度: 重故障" in owner_body  # a reported fault keeps the catalogue's grade
    assert (
        "保守を任せている販売店様(洛南電設)の保守担当者様にも、同じ内容をお知らせしました。"
        in owner_body
    )
    assert "伏見エネルギー" not in owner_body
    dealer_body = received(smtp_server, "boss@first.example.jp", 2)
    assert dealer_body.startswith("洛南電設 販売 一郎 様\n")
    assert f"お客様({gateway.owner.name} 様)にも同じ内容をお知らせしました。" in dealer_body
    assert "アカウント情報" not in dealer_body


def test_a_linked_dealer_without_confirmed_staff_is_not_said_to_be_told(
    contact, smtp_server, django_capture_on_commit_callbacks
):
    gateway = factories.owned_gateway()
    dealer = factories.dealer(email="boss@first.example.jp", company="洛南電設")
    MaintenanceStaff.objects.filter(dealer=dealer).update(confirmed_at=None)
    DealerLink.objects.create(gateway=gateway, dealer=dealer, created_by=gateway.owner)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        open_offline(gateway)
    body = received(smtp_server, gateway.owner.email, 1)
    assert (
        "お知らせを受け取る保守担当者様が登録されていないため、メールでお知らせしていません" in body
    )
    assert "お知らせしました" not in body


def test_the_dealer_is_not_told_the_owner_was_mailed_when_they_were_not(
    contact, smtp_server, django_capture_on_commit_callbacks
):
    gateway = factories.owned_gateway()
    DealerLink.objects.create(
        gateway=gateway,
        created_by=gateway.owner,
        dealer=factories.dealer(email="boss@first.example.jp"),
    )
    MailOptOut.objects.create(user=gateway.owner, kind=Kind.OFFLINE)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        open_offline(gateway)
    body = received(smtp_server, "boss@first.example.jp", 1)
    assert "このメールはお客様にはお送りしていません" in body
    assert not smtp_server.to(gateway.owner.email)


@pytest.mark.parametrize(
    "kind, words",
    [(Kind.OFFLINE, "要確認"), (Kind.BATTERY_TEMP, "警告"), (Kind.SOC_STUCK, "要点検")],
)
def test_no_kind_but_a_reported_fault_is_called_a_fault(kind, words):
    from essmon.alerts.models import Alert

    alert = Alert(kind=kind, severity=Severity.MAJOR)
    assert alert.severity_words.startswith(words) and "重故障" not in alert.severity_words
    assert re.fullmatch(r"[^(]+", alert.severity_short)


# --- the admin in Japanese (issue 12 §6) ---------------------------------------------

ENGLISH = re.compile(r"\b(?!ID\b|MQTT\b|HTTPS\b|IP\b|URL\b|KiB\b|kWh\b|E\.164\b)[A-Za-z]{2,}")


def test_every_admin_label_filter_and_help_text_is_japanese(rf):
    """Column headers, filter titles, field labels and help texts of every ModelAdmin (the
    browser test sees only lists with rows; this reads them all)."""
    from django.contrib import admin
    from django.contrib.admin.utils import label_for_field

    operator = factories.customer(role="operator", is_staff=True, is_superuser=True)
    request = rf.get("/admin/")
    request.user = operator
    found = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "auth":
            continue  # Django's own, translated by Django
        where = f"{model._meta.label}"
        for word in (model._meta.verbose_name, model._meta.verbose_name_plural):
            found += [f"{where}: {word}"] if ENGLISH.search(str(word)) else []
        for name in model_admin.get_list_display(request):
            if name == "__str__":
                continue
            label = label_for_field(name, model, model_admin)
            found += [f"{where} column {name}: {label}"] if ENGLISH.search(str(label)) else []
        for item in model_admin.get_list_filter(request):
            if isinstance(item, str):
                title = model._meta.get_field(item).verbose_name
            elif isinstance(item, tuple):
                title = model._meta.get_field(item[0]).verbose_name
            else:
                title = item.title
            found += [f"{where} filter {item}: {title}"] if ENGLISH.search(str(title)) else []
        for field in model._meta.concrete_fields:
            if field.name == "id":
                continue
            for text in (field.verbose_name, field.help_text):
                if text and ENGLISH.search(str(text)):
                    found.append(f"{where} field {field.name}: {text}")
        for _action, name, description in model_admin._get_base_actions():
            if ENGLISH.search(str(description % {"verbose_name_plural": ""})):
                found.append(f"{where} action {name}: {description}")
    # django-tasks-db's own model keeps its English names; only its Japanese proxy is shown
    assert not [f for f in found if not f.startswith("core.TaskRecord field")], "\n".join(found)
