"""The owner's data rights (issue 12 §5) at the service level: the export holds everything
and no secret; 退会 releases the gateways, ends the dealer links with the dealers told,
deletes or anonymises every personal datum, keeps the provision records of APPI art. 29
for their legal period, and the purge job removes them after it."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.utils import timezone

from essmon.accounts.services.gateway_add import add_gateway
from essmon.accounts.services.inputs import SiteInput
from essmon.dealers.models import DealerAccess, DealerLink, ProvisionRecord
from essmon.gateways.models import Gateway
from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import ERASED_BODY, deliver_message
from essmon.privacy import export, services
from essmon.telemetry.models import EnergyRollup, Sample
from tests import factories, privacy_world
from tests.privacy_world import EMAIL, NAME, PERSONAL, SITE_NAME

pytestmark = pytest.mark.django_db


def exported(user) -> dict:
    return json.loads("".join(export.export_chunks(user=user)))


# --- the export -----------------------------------------------------------------------


def test_export_holds_everything_about_the_customer():
    world = privacy_world.build()
    data = exported(world.customer)
    assert data["format"] == export.FORMAT and data["version"] == 2
    assert "daily" in data["notes"]["telemetry"]
    account = data["account"]
    assert account["name"] == NAME and account["email"] == EMAIL
    assert account["phone"] == privacy_world.PHONE and account["company_name"]
    assert account["last_login"] is not None
    assert [t["context"] for t in data["terms_acceptances"]] == ["registration", "activation"]
    assert data["terms_acceptances"][0]["terms_version"]
    assert data["alert_mail_opt_outs"] == [
        {"kind": "soc_stuck", "kind_label": "蓄電残量の変化なし"}
    ]
    assert {s["name"] for s in data["sites"]} == {SITE_NAME, "倉庫"}
    first, second = sorted(data["gateways"], key=lambda g: g["gateway_id"])
    assert first["gateway_id"] == world.gateways[0].gateway_id
    assert first["warranty"]["grid_connection_date"] == "2025-04-01"
    assert len(first["warranty"]["changes"]) == 2
    (link,) = first["dealer_links"]
    assert link["dealer"]["dealer_code"] == "D7000001" and link["ended_at"] is None
    (record,) = link["provision_records"]
    assert record["customer_name"] == NAME and "電話番号" in record["data_items"]
    assert first["dealer_access_records"][0]["action"] == DealerAccess.Action.VIEW_CUSTOMER
    assert first["dealer_access_records"][0]["dealer"]["company_name"] == "左京蓄電"
    assert [c["setting"] for c in first["settings_history"]] == ["mode", "reserve_soc_pct"]
    assert first["alerts"][0]["ack_comment"].startswith(NAME)
    assert len(first["daily_energy"]) == 30
    assert first["daily_energy"][0]["pv_kwh"] == 12.5
    assert second["daily_energy"] == [] and second["dealer_links"] == []


def test_export_never_holds_a_secret():
    world = privacy_world.build()
    text = "".join(export.export_chunks(user=world.customer))
    world.customer.refresh_from_db()
    secrets = [world.customer.password, *world.secrets]
    for gateway in Gateway.objects.filter(owner=world.customer):
        secrets += [gateway.password_hash, gateway.device_secret_hash]
    secrets = [s for s in secrets if s]
    assert len(secrets) >= 10 and all(secret not in text for secret in secrets)
    for key in (
        "password",
        "password_hash",
        "device_secret_hash",
        "token_hash",
        "sealed_body",
        "digest",
        "prefix",
        "secret_sealed",
    ):
        assert f'"{key}"' not in text


def test_export_lists_the_customers_api_tokens_and_webhook_endpoints():
    """Revoked tokens too (the customer made them), each with what the token page shows
    but its first characters; the endpoints with their state. Not the dealer's own."""
    world = privacy_world.build()
    data = exported(world.customer)
    used, revoked = data["api_tokens"]
    assert set(used) == {
        "name",
        "scopes",
        "scopes_labels",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    assert used["name"] == f"{NAME}の家計簿" and used["scopes"] == ["read", "settings"]
    assert used["scopes_labels"] == ["読み取り", "設定の変更"]
    assert used["expires_at"] and used["last_used_at"] and used["revoked_at"] is None
    assert used["created_at"].endswith("+09:00")
    assert revoked["name"] == "古い連携" and revoked["revoked_at"] and revoked["expires_at"] is None
    (endpoint,) = data["webhook_endpoints"]
    assert endpoint["url"] == "https://hooks.example.com/essmon?from=taikai"
    assert endpoint["event_types"] == ["alert.opened", "gateway.offline"]
    assert endpoint["description"] == f"{NAME}の自宅サーバー"
    assert endpoint["created_at"] and endpoint["paused_at"] and endpoint["enabled"] is True
    assert endpoint["state"] == "一時停止中"
    assert not {"secret", "secret_sealed"} & set(endpoint)
    # the other customer has none
    other = exported(world.other)
    assert other["api_tokens"] == [] and other["webhook_endpoints"] == []


def test_export_streams_years_of_rollups_a_chunk_at_a_time(django_assert_max_num_queries):
    world = privacy_world.build(rollup_days=3 * 366)
    chunks = export.export_chunks(user=world.customer)
    data = json.loads("".join(chunks))
    assert len(data["gateways"][0]["daily_energy"]) == 3 * 366
    # pieces, not one string: the daily rows come one by one from a server-side iterator
    pieces = list(export.export_chunks(user=world.customer))
    assert len(pieces) > 3 * 366
    assert max(len(p) for p in pieces) < 20_000


def test_export_only_holds_the_customers_own_gateways():
    world = privacy_world.build()
    ids = {g["gateway_id"] for g in exported(world.customer)["gateways"]}
    assert ids == {g.gateway_id for g in world.gateways}
    assert not ids & set(world.other.gateways.values_list("gateway_id", flat=True))


# --- 退会 --------------------------------------------------------------------------------


def _text_columns(model) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField)
        or f.get_internal_type() in {"GenericIPAddressField", "EmailField"}
    ]


def sweep(strings) -> list[str]:
    """Every text column of every model of every installed app (essmon's, and Django's:
    the admin's history, sessions, the task queue), and the sessions decoded: where one
    of ``strings`` is still found."""
    found = []
    for model in apps.get_models():
        columns = _text_columns(model)
        if not columns:
            continue
        for row in model._default_manager.all().values_list(*[c.attname for c in columns]):
            for column, value in zip(columns, row, strict=True):
                if column.get_internal_type() == "JSONField":
                    text = json.dumps(value, ensure_ascii=False)
                else:
                    text = str(value or "")
                for s in strings:
                    if s in text:
                        found.append(f"{model._meta.label}.{column.name}: {s!r}")
    for session in Session.objects.all():
        decoded = json.dumps(session.get_decoded(), ensure_ascii=False)
        found += [f"session: {s!r}" for s in strings if s in decoded]
    return found


def test_the_world_holds_the_personal_data_to_begin_with():
    """The sweep can fail: before 退会 it finds the customer everywhere."""
    privacy_world.build()
    found = "\n".join(sweep(PERSONAL))
    for where in (
        "accounts.User.name",
        "gateways.Site.name",
        "alerts.Alert.ack_comment",
        "commands.Command.requested_as",
        "warranty.DateChange.changed_as",
        "notifications.OutboxMessage.recipient",
        "notifications.OutboxMessage.body",
        "dealers.ProvisionRecord.customer_name",
        "dealers.DealerAccess.detail",
        "admin.LogEntry.object_repr",
    ):
        assert where in found


def test_withdrawal_leaves_no_personal_data_but_the_provision_records(
    smtp_server, django_capture_on_commit_callbacks
):
    world = privacy_world.build()
    customer_id = world.customer.pk
    with django_capture_on_commit_callbacks(execute=True):
        services.withdraw_customer(user=world.customer)
    # the mails went out over SMTP: the customer's once, the dealer's without their name
    for message in OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING):
        deliver_message(message_id=message.pk)
    to_customer = smtp_server.to(EMAIL)
    assert len(to_customer) == 1
    body = smtp_server.body(to_customer[0])
    assert to_customer[0]["Subject"].endswith("退会手続き完了のお知らせ")
    assert f"{NAME} 様" in body and world.gateways[0].gateway_id in body
    assert "3年間" in body and "第29条" in body
    to_dealer = smtp_server.to(world.dealer.user.email)
    (withdrew,) = [m for m in to_dealer if "退会" in m["Subject"]]
    assert withdrew["Subject"].strip() == (
        "【遠隔モニタリングサービス】お客様の退会による保守紐付け終了のお知らせ"
    )
    dealer_body = smtp_server.body(withdrew)
    assert world.gateways[0].gateway_id in dealer_body
    assert not [s for s in PERSONAL if s in dealer_body]

    # what is kept: the provision record, whole, and the ended link it points at
    record = ProvisionRecord.objects.get()
    assert record.customer_id is None and record.customer_name == NAME
    assert record.gateway_code == world.gateways[0].gateway_id
    assert record.dealer == world.dealer and record.link.ended_at is not None
    # the goodbye mail's row says a mail went out, not to whom or what
    goodbye = OutboxMessage.objects.get(kind="account_withdrawn")
    assert goodbye.state == OutboxMessage.State.SENT
    assert goodbye.recipient == "" and goodbye.body == ERASED_BODY
    # and nothing else anywhere
    leftovers = [
        f for f in sweep(PERSONAL) if not f.startswith("dealers.ProvisionRecord.customer_name")
    ]
    assert leftovers == []
    assert not Session.objects.filter(session_key=world.session_key).exists()
    from essmon.accounts.models import User

    assert not User.objects.filter(pk=customer_id).exists()
    assert User.objects.filter(pk=world.other.pk).exists()


def test_withdrawal_releases_gateways_for_a_new_owner():
    world = privacy_world.build()
    first = world.gateways[0]
    services.withdraw_customer(user=world.customer)
    first.refresh_from_db()
    assert first.state == Gateway.State.UNCLAIMED
    assert (first.owner, first.site, first.claimed_at, first.held_at) == (None, None, None, None)
    assert not Sample.objects.filter(gateway=first).exists()
    assert not EnergyRollup.objects.filter(gateway=first).exists()
    assert not first.alerts.exists() and not first.commands.exists()
    assert not first.dealer_accesses.exists()
    from essmon.warranty.models import DateChange, WarrantyDates

    assert not WarrantyDates.objects.filter(gateway=first).exists()
    assert not DateChange.objects.filter(gateway=first).exists()
    assert not DealerLink.objects.filter(gateway=first, ended_at__isnull=True).exists()
    # the sheet registers it again, to someone else, who sees none of the past
    newcomer = factories.customer(email="newcomer@example.jp")
    taken = add_gateway(
        user=newcomer,
        gateway_id=first.gateway_id,
        gateway_password=factories.GATEWAY_PASSWORD,
        site=SiteInput(name="新居", postal_code="6008216", prefecture="京都府", address_rest="1-1"),
        client_address="198.51.100.1",
    )
    assert taken.owner == newcomer and taken.state == Gateway.State.CLAIMED
    assert exported(newcomer)["gateways"][0]["dealer_links"] == []
    assert exported(newcomer)["gateways"][0]["settings_history"] == []


def test_the_gateway_still_reports_after_release():
    """Its device secret stays: the device keeps working for whoever registers it next."""
    world = privacy_world.build()
    first = world.gateways[0]
    secret_hash = first.device_secret_hash
    services.withdraw_customer(user=world.customer)
    assert Gateway.objects.get(pk=first.pk).device_secret_hash == secret_hash


def test_a_dealer_cannot_withdraw():
    dealer = factories.dealer()
    with pytest.raises(services.WithdrawalError):
        services.withdraw_customer(user=dealer.user)


def test_withdrawal_without_gateways_or_dealers():
    lonely = factories.customer(email="lonely@example.jp", name="単独 次郎")
    plan = services.withdraw_customer(user=lonely)
    assert plan.gateways == [] and plan.links == [] and plan.provision_records == 0
    message = OutboxMessage.objects.get(kind="account_withdrawn")
    assert "単独 次郎 様" in message.body and "販売店様" not in message.body.split("\n\n")[1]


def test_a_failed_goodbye_mail_forgets_the_address_too(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    lonely = factories.customer(email="bounce@example.jp")
    services.withdraw_customer(user=lonely)
    message = OutboxMessage.objects.get(kind="account_withdrawn")
    assert deliver_message(message_id=message.pk) == OutboxMessage.State.FAILED
    message.refresh_from_db()
    assert message.recipient == "" and "bounce@example.jp" not in message.last_error


# --- the legal period ---------------------------------------------------------------------


def test_provision_records_are_kept_three_years_then_purged():
    world = privacy_world.build()
    services.withdraw_customer(user=world.customer)
    assert ProvisionRecord.objects.count() == 1
    left = timezone.localdate()
    anniversary = left.replace(year=left.year + 3) if (left.month, left.day) != (2, 29) else None
    anniversary = anniversary or date(left.year + 3, 3, 1)
    last_moment = timezone.make_aware(datetime.combine(anniversary, time(23, 59, 59)))
    with time_machine.travel(last_moment, tick=False):
        assert services.purge_provision_records() == 0  # kept through the whole day
    with time_machine.travel(last_moment + timedelta(seconds=2), tick=False):
        assert services.purge_provision_records() == 1
    assert not ProvisionRecord.objects.exists()
    assert not DealerLink.objects.filter(gateway=world.gateways[0]).exists()


def test_records_of_customers_still_here_are_never_purged():
    world = privacy_world.build()
    link = DealerLink.objects.get()
    DealerLink.objects.filter(pk=link.pk).update(ended_at=timezone.now() - timedelta(days=4000))
    assert services.purge_provision_records() == 0
    assert ProvisionRecord.objects.filter(customer=world.customer).exists()


def test_purge_is_a_scheduled_job():
    from essmon.core.scheduler import JOBS

    assert "essmon.privacy.services.purge_provision_records" in {j.func_path for j in JOBS}


def test_what_a_released_gateway_sends_is_not_kept_until_registered_again():
    from essmon.privacy.models import ReleasedGateway
    from essmon.telemetry.ingest import ingest_samples
    from essmon.telemetry.models import GatewayLiveState

    world = privacy_world.build()
    first = Gateway.objects.get(pk=world.gateways[0].pk)
    services.withdraw_customer(user=world.customer)
    assert ReleasedGateway.objects.filter(gateway=first).exists()
    now = timezone.now().replace(microsecond=0)

    def send(minutes_ago: int, seq: int) -> None:
        at = now - timedelta(minutes=minutes_ago)
        ingest_samples(gateway=first, samples=[factories.sample(seq, ts=at, pv_kwh=200.0)], now=now)

    send(3, 100)  # the old home, still powered
    assert Sample.objects.filter(gateway=first).count() == 1
    assert services.forget_released_gateways() == 2  # both of the customer's
    assert not Sample.objects.filter(gateway=first).exists()
    assert not GatewayLiveState.objects.filter(gateway=first).exists()
    newcomer = factories.customer(email="newcomer@example.jp")
    add_gateway(
        user=newcomer,
        gateway_id=first.gateway_id,
        gateway_password=factories.GATEWAY_PASSWORD,
        site=SiteInput(name="新居", postal_code="6008216", prefecture="京都府", address_rest="1-1"),
        client_address="198.51.100.1",
    )
    send(1, 101)  # the new owner's
    assert services.forget_released_gateways() == 1  # the other one, still waiting
    assert not ReleasedGateway.objects.filter(gateway=first).exists()
    assert Sample.objects.filter(gateway=first).count() == 1


@pytest.mark.parametrize(
    "ended, until",
    [
        ("2026-12-04T10:00:00+09:00", "2029-12-05T00:00:00+09:00"),
        ("2026-12-04T23:30:00+00:00", "2029-12-06T00:00:00+09:00"),  # 5 Dec in Japan
        ("2028-02-29T12:00:00+09:00", "2031-03-02T00:00:00+09:00"),  # no 29 Feb in 2031
    ],
)
def test_the_legal_period_counts_calendar_years_in_japan(ended, until):
    assert services.keep_until(datetime.fromisoformat(ended)) == datetime.fromisoformat(until)


def test_a_gateway_only_reserved_for_the_account_is_freed():
    world = privacy_world.build()
    sheet = factories.gateway()
    Gateway.objects.filter(pk=sheet.pk).update(
        state=Gateway.State.HELD, held_at=timezone.now(), reserved_for=world.customer
    )
    services.withdraw_customer(user=world.customer)
    sheet.refresh_from_db()
    assert (sheet.state, sheet.reserved_for, sheet.held_at) == (Gateway.State.UNCLAIMED, None, None)
