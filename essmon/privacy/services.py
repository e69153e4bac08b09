"""退会 (withdrawal, APPI art. 35): the customer's account and personal data are deleted,
their gateways released for a new owner, their dealers' links ended with the dealers told,
and only the records the law asks to keep are kept: the 第三者提供の記録 of APPI art. 29
(dealers.ProvisionRecord), for the period of the PPC's rules (施行規則第21条: three years
for records made one by one, as ours are), after which ``purge_provision_records`` deletes
them. docs/privacy.md says what goes and what stays, and why.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from essmon.accounts.models import AccountToken, User
from essmon.core.japanese import format_phone
from essmon.core.models import Throttle
from essmon.dealers import signals as dealer_signals
from essmon.dealers.models import Dealer, DealerLink, ProvisionRecord, SiteViewer
from essmon.dealers.selectors import alert_recipients
from essmon.dealers.services.viewers import end_viewers_of_owner, end_viewing_of
from essmon.gateways.models import Gateway, Site
from essmon.notifications.models import OutboxMessage
from essmon.notifications.services import queue_mail
from essmon.privacy.models import ReleasedGateway
from essmon.transfers.services import cancel_transfers_of

logger = logging.getLogger(__name__)

REMOVED = "[退会により削除]"
# Rows that point at a gateway and stay when it is released: the ended links are what
# the provision records (kept by law) point at; nobody but the operator sees them.
# webhooks.Event: what the dealers' endpoints were told, the link's end by this 退会 among
# it, must still reach them; it holds the gateway ID and the event's facts, nothing of the
# person, and goes with the delivery log's retention (the owner's own endpoints and their
# deliveries go with the account)
KEPT_WITH_GATEWAY: frozenset[str] = frozenset(
    {"dealers.DealerLink", "privacy.ReleasedGateway", "webhooks.Event"}
)


class WithdrawalError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def provision_record_years() -> int:
    return settings.PROVISION_RECORD_YEARS


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return date(day.year + years, 3, 1)


def keep_until(ended_at: datetime) -> datetime:
    """When a provision record may go: the legal period counted from the day of the last
    provision (the link's end), in Japan's calendar, kept through the whole anniversary day
    (never a moment short): midnight at the start of the day after it."""
    anniversary = _years_later(timezone.localdate(ended_at), provision_record_years())
    return timezone.make_aware(datetime.combine(anniversary + timedelta(days=1), time()))


@dataclass(frozen=True)
class WithdrawalPlan:
    """What 退会 will do, for the confirmation screen (and what it then does)."""

    gateways: list[Gateway]
    links: list[DealerLink]
    provision_records: int
    kept_until: datetime

    @property
    def kept_through(self) -> date:
        """The last day a record of this withdrawal is kept (the day before kept_until)."""
        return timezone.localdate(self.kept_until - timedelta(seconds=1))


def plan_withdrawal(*, user: User) -> WithdrawalPlan:
    gateways = list(Gateway.objects.filter(owner=user).select_related("site"))
    links = list(
        DealerLink.objects.filter(gateway__owner=user, ended_at__isnull=True)
        .select_related("dealer", "gateway")
        .order_by("gateway__gateway_id", "created_at")
    )
    return WithdrawalPlan(
        gateways=gateways,
        links=links,
        provision_records=ProvisionRecord.objects.filter(customer=user).count(),
        kept_until=keep_until(timezone.now()),
    )


def _gateway_relations() -> list[models.ForeignObject[Any, Any]]:
    """Every foreign key (or one-to-one) to Gateway in essmon's apps, found at run time so
    that what other parts add later is released with the gateway too."""
    found: list[models.ForeignObject[Any, Any]] = []
    for model in apps.get_models():
        if not model.__module__.startswith("essmon."):
            continue
        if model._meta.label in KEPT_WITH_GATEWAY:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignObject) and field.related_model is Gateway:
                found.append(field)
    return found


def forget_recorded_data(*, gateway_ids: list[int]) -> None:
    """Delete what was recorded for these gateways: every row of an essmon model with a
    foreign key to Gateway, but the kept ones (KEPT_WITH_GATEWAY)."""
    if not gateway_ids:
        return
    for field in _gateway_relations():
        field.model._default_manager.filter(**{f"{field.attname}__in": gateway_ids}).delete()


def release_gateway(*, gateway: Gateway) -> None:
    """Give a gateway back as it left the factory, for a new owner to register with the
    sheet's ID and password: no owner, 案件, hold or registration times, and nothing
    recorded while it was this owner's (measurements and rollups, connection history,
    events, alerts, settings history, warranty dates and their changes, the dealers'
    access records). Its sheet password and device secret stay: they belong to the
    device, which keeps sending and may be registered again; what it sends until then is
    not kept either (ReleasedGateway, forget_released_gateways)."""
    forget_recorded_data(gateway_ids=[gateway.pk])
    ReleasedGateway.objects.update_or_create(
        gateway=gateway, defaults={"released_at": timezone.now()}
    )
    Gateway.objects.filter(pk=gateway.pk).update(
        state=Gateway.State.UNCLAIMED,
        owner=None,
        site=None,
        held_at=None,
        claimed_at=None,
        owner_since=None,
        reserved_for=None,
    )


def _personal_strings(user: User, sites: list[Site], addresses: set[str]) -> list[str]:
    """The texts that name or reach this customer, longest first (so that a full address
    is replaced before its tail)."""
    values = {
        user.name,
        user.name.replace(" ", "").replace("\u3000", ""),
        user.furigana,
        user.company_name,
        user.department,
        user.phone,
        format_phone(user.phone) if user.phone else "",
        user.address,
        f"{user.prefecture}{user.city}{user.address_rest}",
        f"{user.city}{user.address_rest}",
        user.address_rest,
        *addresses,
    }
    for site in sites:
        values |= {site.name, site.address, f"{site.city}{site.address_rest}", site.address_rest}
    return sorted((v for v in values if v and len(v.strip()) >= 2), key=len, reverse=True)


def _forget_mail(user: User, addresses: set[str], strings: list[str]) -> int:
    """Mails to the customer go; in the others (the dealers' link and alert mails, say)
    every text naming the customer is replaced."""
    to_them = Q()
    for address in addresses:
        to_them |= Q(recipient__iexact=address)
    deleted, _ = OutboxMessage.objects.filter(to_them).delete()
    mentions = Q()
    for text in strings:
        mentions |= Q(body__contains=text) | Q(subject__contains=text)
    for message in OutboxMessage.objects.filter(mentions).only("pk", "subject", "body"):
        subject, body = message.subject, message.body
        for text in strings:
            subject, body = subject.replace(text, REMOVED), body.replace(text, REMOVED)
        OutboxMessage.objects.filter(pk=message.pk).update(subject=subject, body=body)
    return deleted


def _forget_admin_log(strings: list[str]) -> None:
    """The admin's history names what an operator changed (an account shows as 「氏名
    <メール>」): the history stays, without the customer's texts."""
    mentions = Q()
    for text in strings:
        mentions |= Q(object_repr__contains=text) | Q(change_message__contains=text)
    for entry in LogEntry.objects.filter(mentions).only("pk", "object_repr", "change_message"):
        name, message = entry.object_repr, entry.change_message
        for text in strings:
            name, message = name.replace(text, REMOVED), message.replace(text, REMOVED)
        LogEntry.objects.filter(pk=entry.pk).update(object_repr=name, change_message=message)


def _throttle_keys(user: User, addresses: set[str]) -> Q:
    """The failure and mail counters kept under this account or its addresses."""
    query = Q(key__endswith=f":user:{user.pk}") | Q(key=f"mail:account:{user.pk}")
    query |= Q(key__startswith=f"dealer-link:pair:{user.pk}:")
    for address in addresses:
        login = hashlib.sha256(address.encode()).hexdigest()[:40]
        mail = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:40]
        query |= Q(key=f"login:id:{login}") | Q(key__startswith="mail:to:", key__endswith=mail)
    return query


def end_sessions(*, user: User) -> int:
    """Delete the account's sessions (every device): Django keeps no index from a user
    to sessions, so the live ones are read; they are few next to the accounts."""
    ended = 0
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.iterator(chunk_size=500):
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    return ended


def _mail_dealers(links: list[DealerLink]) -> None:
    # the dealer and its confirmed maintenance staff, as for an unlink
    by_dealer: dict[int, tuple[Dealer, list[str]]] = {}
    for link in links:
        dealer, gateway_ids = by_dealer.setdefault(link.dealer_id, (link.dealer, []))
        gateway_ids.append(link.gateway.gateway_id)
    for dealer, gateway_ids in by_dealer.values():
        for address in sorted({dealer.user.email, *alert_recipients(dealer=dealer)}):
            queue_mail(
                recipient=address,
                kind="dealer_customer_withdrew",
                context={"dealer": dealer, "gateway_ids": gateway_ids},
            )


def withdraw_customer(*, user: User) -> WithdrawalPlan:
    """退会. The caller has checked the password and the confirmation. One transaction:
    it all happens, or nothing does."""
    if user.role != User.Role.CUSTOMER:
        raise WithdrawalError("退会の手続きは、お客様のアカウントでのみできます。")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        plan = plan_withdrawal(user=user)
        now = timezone.now()
        sites = list(Site.objects.filter(owner=user))
        addresses = {user.email, user.email.lower()}
        addresses |= set(
            AccountToken.objects.filter(user=user)
            .exclude(new_email="")
            .values_list("new_email", flat=True)
        )
        strings = _personal_strings(user, sites, addresses)
        DealerLink.objects.filter(pk__in=[link.pk for link in plan.links]).update(ended_at=now)
        for link in plan.links:
            link.ended_at = now
            dealer_signals.link_ended.send(
                sender=DealerLink, link=link, owner=user, reason="withdrawal"
            )
        # the family viewers it invited see nothing from now on (their rows go with the
        # released gateways; their own viewer accounts stay theirs)
        end_viewers_of_owner(owner=user)
        # a 名義変更 it started and nobody claimed: its code is dead (docs/transfers.md)
        cancel_transfers_of(user=user, reason="譲渡する方の退会")
        # the last provision is today: each record is kept for the legal period from now
        for gateway in plan.gateways:
            release_gateway(gateway=gateway)
        # a gateway only reserved for this account (see accounts.services.registration)
        Gateway.objects.filter(reserved_for=user, owner__isnull=True).update(
            state=Gateway.State.UNCLAIMED, held_at=None, reserved_for=None
        )
        _forget_mail(user, addresses, strings)
        _forget_admin_log(strings)
        Throttle.objects.filter(_throttle_keys(user, addresses)).delete()
        end_sessions(user=user)
        _mail_dealers(plan.links)
        # the one mail to the address, forgotten once sent (notifications: ERASED_AFTER_SENDING)
        queue_mail(
            recipient=user.email,
            kind="account_withdrawn",
            context={
                "user": user,
                "plan": plan,
                "years": provision_record_years(),
            },
        )
        user_id = user.pk
        # its 案件, consents, tokens and mail preferences go with it; the provision
        # records keep the name they were made with (customer becomes empty)
        user.delete()
    logger.info(
        "account %s withdrew: %s gateways released, %s dealer links ended",
        user_id,
        len(plan.gateways),
        len(plan.links),
    )
    return plan


def withdraw_viewer(*, user: User) -> int:
    """A family viewer deletes its own account: every site it watched stops being shared,
    its sessions end, mails to it go and its address is taken out of the owners' records
    and mails. The caller has checked the password. Returns how many sites it watched."""
    if user.role != User.Role.VIEWER:
        raise WithdrawalError("この手続きは、見守り用のアカウントでのみできます。")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        watched = end_viewing_of(viewer=user)
        addresses = {user.email, user.email.lower()}
        strings = sorted({user.email, user.name} - {""}, key=len, reverse=True)
        SiteViewer.objects.filter(Q(viewer=user) | Q(email__iexact=user.email)).update(
            email=REMOVED
        )
        _forget_mail(user, addresses, strings)
        _forget_admin_log(strings)
        Throttle.objects.filter(_throttle_keys(user, addresses)).delete()
        end_sessions(user=user)
        user_id = user.pk
        user.delete()
    logger.info("viewer account %s withdrew: %s sites no longer shared", user_id, watched)
    return watched


def purge_provision_records() -> int:
    """Periodic job: provision records of customers who left, once the legal period since
    their link ended is over, go with the ended link they point at."""
    now = timezone.now()
    # every year of the period has 365 days at least: the database narrows the rows down,
    # keep_until decides
    candidates = ProvisionRecord.objects.filter(
        customer__isnull=True,
        link__ended_at__lte=now - timedelta(days=365 * provision_record_years()),
    ).values_list("pk", "link__ended_at")
    expired = [
        pk for pk, ended_at in candidates if ended_at is not None and keep_until(ended_at) <= now
    ]
    if not expired:
        return 0
    with transaction.atomic():
        link_ids = set(
            ProvisionRecord.objects.filter(pk__in=expired).values_list("link_id", flat=True)
        )
        ProvisionRecord.objects.filter(pk__in=expired).delete()
        DealerLink.objects.filter(pk__in=link_ids, provisions__isnull=True).delete()
    logger.info("purged %s provision records past their legal period", len(expired))
    return len(expired)


def forget_released_gateways() -> int:
    """Periodic job (every minute): a released gateway that is registered again (held or
    claimed) stops being one; what the others sent since the last run is deleted. Returns
    how many gateways are still released."""
    ReleasedGateway.objects.exclude(gateway__state=Gateway.State.UNCLAIMED).delete()
    ReleasedGateway.objects.filter(gateway__owner__isnull=False).delete()
    waiting = list(ReleasedGateway.objects.values_list("gateway_id", flat=True))
    for start in range(0, len(waiting), 500):
        forget_recorded_data(gateway_ids=waiting[start : start + 500])
    return len(waiting)
