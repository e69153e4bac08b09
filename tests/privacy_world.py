"""A customer with everything essmon can hold about one (for the data-rights tests): two
systems, consents, a family viewer, a dealer link with its provision record and access records, settings
history, alerts, warranty dates, measurements and rollups, mails, counters, a session, API
access tokens and webhook endpoints (and the dealer's own, which are not the customer's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from essmon.accounts.models import TermsAcceptance, User
from essmon.accounts.selectors import current_terms
from essmon.accounts.services.changes import request_email_change
from essmon.accounts.services.login import _login_id_key
from essmon.accounts.services.terms import record_terms_acceptance
from essmon.alerts.models import Alert, Kind, MailOptOut
from essmon.api.models import AccessToken
from essmon.api.services import create_token, note_use, revoke_token
from essmon.commands.services import request_setting_change
from essmon.core import throttle
from essmon.dealers.models import Dealer, DealerAccess
from essmon.dealers.services.links import link_dealer
from essmon.dealers.services.records import record_view
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail
from essmon.telemetry.ingest import ingest_samples
from essmon.telemetry.models import EnergyRollup
from essmon.warranty.services import change_dates
from essmon.webhooks.models import Endpoint
from essmon.webhooks.services import Holder, create_endpoint
from tests import factories

# Strings no other row of the test database holds: whatever still has them after 退会
# is personal data left behind.
NAME = "退会 太郎"
FURIGANA = "タイカイ　タロウ"
EMAIL = "leaving.taro@example.jp"
PHONE = "+819087654321"
PHONE_SHOWN = "090-8765-4321"
CITY = "京都市左京区"
ADDRESS_REST = "北白川追分町99-9"
SITE_NAME = "退会様邸"
SITE_ADDRESS_REST = "京都市左京区北白川追分町99-9"
COMPANY = "退会商事株式会社"
NEW_EMAIL = "taro.next@example.jp"  # a mail-address change asked for, never confirmed
PERSONAL = (
    NAME,
    NAME.replace(" ", ""),
    FURIGANA,
    EMAIL,
    PHONE,
    PHONE_SHOWN,
    "09087654321",
    ADDRESS_REST,
    SITE_NAME,
    COMPANY,
    NEW_EMAIL,
)


@dataclass
class World:
    customer: User
    gateways: list[Gateway]
    dealer: Dealer
    session_key: str
    other: User
    # the tokens' and the signing secrets, and what is stored of them (digests, sealed)
    secrets: list[str] = field(default_factory=list)


def _public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # a public address; nothing is sent to it here


def _tokens_and_endpoints(customer: User, dealer: Dealer) -> list[str]:
    """Two tokens of the customer (one used and with an expiry, one revoked), a paused
    endpoint of the customer, and the dealer's own token and endpoint."""
    now = timezone.now()
    used = create_token(
        user=customer,
        name=f"{NAME}の家計簿",
        scopes=["read", "settings"],
        expires_at=now + timedelta(days=30),
    )
    note_use(token=used.token, now=now)
    old = create_token(user=customer, name="古い連携", scopes=["read"], expires_at=None)
    revoke_token(user=customer, token_id=old.token.pk)
    theirs = create_token(user=dealer.user, name="販売店の連携", scopes=["read"], expires_at=None)
    endpoint, hook_secret = create_endpoint(
        holder=Holder(owner=customer),
        url="https://hooks.example.com/essmon?from=taikai",
        event_types=["alert.opened", "gateway.offline"],
        description=f"{NAME}の自宅サーバー",
        resolve=_public,
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(paused_at=now, failing_since=now)
    _, dealer_hook_secret = create_endpoint(
        holder=Holder(dealer=dealer),
        url="https://dealer-hooks.example.com/in",
        event_types=["alert.opened"],
        resolve=_public,
    )
    stored = [t.digest for t in AccessToken.objects.all()]
    stored += [e.secret_sealed for e in Endpoint.objects.all()]
    return [
        used.secret,
        old.secret,
        theirs.secret,
        hook_secret,
        dealer_hook_secret,
        *stored,
    ]


def build(*, rollup_days: int = 30) -> World:
    customer = factories.customer(
        email=EMAIL,
        agreed_to_terms=False,  # agreed below, from an address the export shows
        name=NAME,
        furigana=FURIGANA,
        phone=PHONE,
        city=CITY,
        address_rest=ADDRESS_REST,
        company_name=COMPANY,
        department="総務部",
    )
    User.objects.filter(pk=customer.pk).update(last_login=timezone.now())
    terms = current_terms()
    for context in (TermsAcceptance.Context.REGISTRATION, TermsAcceptance.Context.ACTIVATION):
        record_terms_acceptance(
            user=customer, terms=terms, context=context, client_address="203.0.113.7"
        )
    MailOptOut.objects.create(user=customer, kind=Kind.SOC_STUCK)
    first = factories.connected_gateway(provisioned_days_ago=400)
    Gateway.objects.filter(pk=first.pk).update(owner=customer)
    first.site.owner = customer
    first.site.name = SITE_NAME
    first.site.address_rest = SITE_ADDRESS_REST
    first.site.save()
    first.refresh_from_db()
    second = factories.owned_gateway(owner=customer, site_name="倉庫")
    Gateway.objects.filter(pk=second.pk).update(claimed_at=timezone.now())
    dealer = factories.dealer(code="D7000001", company="左京蓄電")
    link_dealer(customer=customer, gateway=first, dealer=dealer)
    # a family viewer (見守り): the owner's notice of its acceptance names the owner
    factories.viewer(owner=customer, gateway=first, email="family.of.taro@example.jp")
    record_view(
        user=dealer.user, gateway=first, action=DealerAccess.Action.VIEW_CUSTOMER, detail=NAME
    )
    dealer_user = dealer.user
    request_setting_change(gateway=first, setting="mode", value="green", requested_by=customer)
    request_setting_change(
        gateway=first, setting="reserve_soc_pct", value=40, requested_by=dealer_user
    )
    change_dates(
        gateway=first,
        user=customer,
        grid_connection_date=date(2025, 4, 1),
        received_date=date(2025, 3, 20),
    )
    now = timezone.now()
    Alert.objects.create(
        gateway=first,
        kind=Kind.FAULT,
        code="E101",
        severity="major",
        title="蓄電池の異常",
        since=now - timedelta(hours=3),
        opened_at=now - timedelta(hours=3),
        acknowledged_at=now,
        acknowledged_by=customer,
        acknowledged_as=f"お客様({NAME})",
        ack_comment=f"{NAME}が確認しました",
    )
    base = (now - timedelta(days=1)).replace(microsecond=0)
    ingest_samples(
        gateway=first,
        samples=[
            factories.sample(i + 1, ts=base + timedelta(minutes=i), pv_kwh=100 + i * 0.01)
            for i in range(5)
        ],
        now=now,
    )
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    EnergyRollup.objects.bulk_create(
        EnergyRollup(
            gateway=first,
            period="day",
            start=start - timedelta(days=d),
            pv_kwh=12.5,
            load_kwh=9.0,
            grid_import_kwh=3.0,
            grid_export_kwh=6.5,
            charge_kwh=4.0,
            discharge_kwh=3.5,
            samples=8640,
            updated_at=now,
        )
        for d in range(1, rollup_days + 1)
    )
    # mails: to the customer (with a sealed link), and to the dealer naming them
    queue_mail(recipient=EMAIL, kind="account_locked", context={"user": customer, "token": "x"})
    request_email_change(user=customer, new_email=NEW_EMAIL, client_address="203.0.113.7")
    throttle.take(keys=[_login_id_key(EMAIL)], limit=10, window=timedelta(hours=1))
    throttle.take(keys=[f"mail:account:{customer.pk}"], limit=10, window=timedelta(hours=1))
    session = SessionStore()
    session["_auth_user_id"] = str(customer.pk)
    session["_auth_user_backend"] = "essmon.accounts.backends.LimitedEmailBackend"
    session.create()
    # an operator changed the account in the admin: its history names the account
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    operator = factories.customer(email="ops@example.jp", name="運営 三郎", role="operator")
    LogEntry.objects.create(
        user=operator,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(customer.pk),
        object_repr=str(customer),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["電話番号"]}}]',
    )
    other = factories.customer(email="stays@example.jp", name="残留 花子")
    factories.owned_gateway(owner=other, site_name="残留邸")
    secrets = _tokens_and_endpoints(customer, dealer)
    customer.refresh_from_db()
    return World(customer, [first, second], dealer, session.session_key, other, secrets)
