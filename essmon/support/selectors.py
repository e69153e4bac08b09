"""The support desk's reads: the one search over people and gateways, and what the detail
pages show of an account or a gateway (registration state, 案件, gateways, dealer links,
last contact, open alerts, warranty state, mails, the desk's own record)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Concat
from django.db.models.lookups import IContains
from django.urls import reverse

from essmon.accounts.models import AccountToken, User
from essmon.alerts.models import Alert
from essmon.core.japanese import search_variants, to_halfwidth_ascii
from essmon.dealers.access import DESK_ROLES
from essmon.dealers.models import Dealer, DealerLink
from essmon.gateways.identifiers import normalize_gateway_id
from essmon.gateways.models import Gateway, GatewayReplacement, ProvisioningBatch
from essmon.gateways.search import search as gateway_search
from essmon.notifications.models import OutboxMessage
from essmon.support.models import SupportAction
from essmon.telemetry.models import GatewayLiveState
from essmon.transfers.models import OwnershipTransfer
from essmon.warranty.selectors import states_for

QUERY_MAX = 100  # characters of one search
HITS_MAX = 200  # of each kind: past that, the search is to be narrowed
MAILS_SHOWN = 30
ACTIONS_SHOWN = 50
PHONE_DIGITS_MIN = 4  # fewer digits would match nearly every number


@dataclass(frozen=True)
class Hit:
    kind: str  # お客様, 販売店, 見守り, ゲートウェイ
    label: str
    detail: str
    matched: str  # which field matched, in the desk's words
    url: str


def _phone_fragments(text: str) -> list[str]:
    """What a typed phone number (any hyphens, widths or a leading 0) is inside a stored
    E.164 number: the digits, and with a leading 0 also as +81 and the rest."""
    digits = re.sub(r"\D", "", to_halfwidth_ascii(text))
    if len(digits) < PHONE_DIGITS_MIN:
        return []
    fragments = [digits]
    if digits.startswith("0"):
        fragments.append("+81" + digits[1:])
    return fragments


PERSON_FIELDS = (
    ("name", "氏名"),
    ("furigana", "フリガナ"),
    ("email", "メールアドレス"),
    ("company_name", "法人名"),
)


def _person_filter(variants: set[str], phones: list[str]) -> Q:
    match = Q()
    for variant in variants:
        for field, _ in PERSON_FIELDS:
            match |= Q(**{f"{field}__icontains": variant})
        match |= Q(IContains(Concat("prefecture", "city", "address_rest"), variant))
        match |= Q(dealer__company_name__icontains=variant)
    for fragment in phones:
        match |= Q(phone__contains=fragment)
    return match


def _contains(value: str, variants: set[str]) -> bool:
    folded = value.casefold()
    return any(v.casefold() in folded for v in variants if v)


def _person_matched(user: User, variants: set[str], phones: list[str]) -> str:
    for field, label in PERSON_FIELDS:
        if _contains(getattr(user, field), variants):
            return label
    if any(fragment in user.phone for fragment in phones):
        return "電話番号"
    if _contains(user.address, variants) or _contains(
        f"{user.prefecture}{user.city}{user.address_rest}", variants
    ):
        return "住所"
    return "販売店名"


def _gateway_matched(gateway: Gateway, variants: set[str]) -> str:
    if _contains(gateway.gateway_id, variants):
        return "ゲートウェイID"
    site = gateway.site
    if site is not None and _contains(site.name, variants):
        return "案件名"
    if site is not None and _contains(f"{site.prefecture}{site.city}{site.address_rest}", variants):
        return "設置先住所"
    return "お客様氏名"


ROLE_KINDS: dict[str, str] = {
    User.Role.CUSTOMER: "お客様",
    User.Role.DEALER: "販売店",
    User.Role.VIEWER: "見守り",
}


def search(text: str) -> list[Hit]:
    """Accounts (customers, dealers, viewers) and gateways matching ``text``: gateway ID,
    mail address, phone number (however written), name, フリガナ, 法人名・販売店名, 案件名
    or address, ignoring kana (ひらがな・カタカナ・半角カナ) and width. At most
    ``HITS_MAX`` of each kind, people first."""
    text = text.strip()[:QUERY_MAX]
    if not text:
        return []
    variants = search_variants(text)
    phones = _phone_fragments(text)
    people = (
        User.objects.filter(role__in=DESK_ROLES, is_superuser=False)
        .filter(_person_filter(variants, phones))
        .select_related("dealer")
        .order_by("furigana", "name", "pk")[:HITS_MAX]
    )
    hits = [
        Hit(
            kind=ROLE_KINDS.get(user.role, user.get_role_display()),
            label=user.name,
            detail=user.email,
            matched=_person_matched(user, variants, phones),
            url=reverse("support:person", kwargs={"user_id": user.pk}),
        )
        for user in people
    ]
    gateway_match = Q()
    for variant in variants:
        gateway_match |= gateway_search(variant)
    id_form = normalize_gateway_id(text)
    if id_form:
        gateway_match |= Q(gateway_id__icontains=id_form)
    gateways = (
        Gateway.objects.filter(gateway_match)
        .select_related("site", "owner")
        .order_by("gateway_id")[:HITS_MAX]
    )
    hits += [
        Hit(
            kind="ゲートウェイ",
            label=gateway.gateway_id,
            detail=" ".join(
                part
                for part in (
                    gateway.get_state_display(),
                    gateway.site.name if gateway.site else "",
                    gateway.owner.name if gateway.owner else "",
                )
                if part
            ),
            matched=_gateway_matched(gateway, variants | {id_form}),
            url=reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id}),
        )
        for gateway in gateways
    ]
    return hits


@dataclass(frozen=True)
class GatewaySummary:
    gateway: Gateway
    last_seen_at: datetime | None
    open_alerts: list[Alert]
    warranty: str  # the state's label, or "" before registration
    dealers: list[Dealer]  # active maintenance links


def gateway_summaries(gateways: list[Gateway]) -> list[GatewaySummary]:
    """Each gateway's last contact, open alerts, warranty state and linked dealers, in a
    few queries however many gateways there are."""
    if not gateways:
        return []
    ids = [g.pk for g in gateways]
    seen = dict(
        GatewayLiveState.objects.filter(gateway__in=ids).values_list("gateway_id", "last_seen_at")
    )
    alerts: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(gateway__in=ids, closed_at__isnull=True).order_by("-since"):
        alerts.setdefault(alert.gateway_id, []).append(alert)
    dealers: dict[int, list[Dealer]] = {}
    for link in DealerLink.objects.filter(gateway__in=ids, ended_at__isnull=True).select_related(
        "dealer"
    ):
        dealers.setdefault(link.gateway_id, []).append(link.dealer)
    claimed = [g for g in gateways if g.state == Gateway.State.CLAIMED]
    warranty = states_for(claimed) if claimed else {}
    return [
        GatewaySummary(
            gateway=g,
            last_seen_at=seen.get(g.pk),
            open_alerts=alerts.get(g.pk, []),
            warranty=warranty[g.pk].label if g.pk in warranty else "",
            dealers=dealers.get(g.pk, []),
        )
        for g in gateways
    ]


def registration_state(user: User) -> str:
    if user.is_locked:
        return "ロック中"
    if user.is_provisional:
        return "仮登録中" if not user.is_active else "本登録済み"
    return "本登録済み" if user.is_active else "無効"


@dataclass(frozen=True)
class PersonView:
    person: User
    state: str
    activation_expires_at: datetime | None  # the open 仮登録 link's end
    dealer: Dealer | None
    gateways: list[GatewaySummary]  # owned, and those held for the account
    mails: list[OutboxMessage]
    actions: list[SupportAction]
    may_resend: bool
    may_unlock: bool


def person_view(person: User) -> PersonView:
    gateways = list(
        Gateway.objects.filter(Q(owner=person) | Q(reserved_for=person))
        .select_related("site", "owner", "reserved_for")
        .order_by("gateway_id")
    )
    activation = (
        AccountToken.objects.filter(
            user=person, purpose=AccountToken.Purpose.ACTIVATION, used_at__isnull=True
        )
        .order_by("-expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    return PersonView(
        person=person,
        state=registration_state(person),
        activation_expires_at=activation if person.is_provisional else None,
        dealer=Dealer.objects.filter(user=person).first(),
        gateways=gateway_summaries(gateways),
        mails=mails_to(person.email),
        actions=list(
            SupportAction.objects.filter(target_user=person).select_related("target_gateway")[
                :ACTIONS_SHOWN
            ]
        ),
        may_resend=may_resend(person),
        may_unlock=may_unlock(person),
    )


def may_resend(person: User) -> bool:
    """Whether the 仮登録メール can go again: a provisional customer or dealer made by
    registration (the service decides again when asked)."""
    return (
        person.is_provisional
        and not person.is_active
        and person.role in (User.Role.CUSTOMER, User.Role.DEALER)
        and AccountToken.objects.filter(
            user=person, purpose=AccountToken.Purpose.ACTIVATION
        ).exists()
    )


def may_unlock(person: User) -> bool:
    return person.is_locked


def mails_to(email: str) -> list[OutboxMessage]:
    """The mails queued to ``email``, newest first: kind, subject, state and times (the
    desk never shows a body)."""
    return list(
        OutboxMessage.objects.filter(recipient__iexact=email)
        .only("kind", "subject", "state", "created_at", "sent_at", "attempts", "recipient")
        .order_by("-created_at")[:MAILS_SHOWN]
    )


@dataclass(frozen=True)
class GatewayView:
    summary: GatewaySummary
    links: list[DealerLink]  # every maintenance link, ended ones too
    replacements: list[GatewayReplacement]
    # the 名義変更 of its site: started by the owner or at the desk, with who, why and how it ended
    transfers: list[OwnershipTransfer]
    actions: list[SupportAction]


def gateway_view(gateway: Gateway) -> GatewayView:
    (summary,) = gateway_summaries([gateway])
    return GatewayView(
        summary=summary,
        links=list(
            DealerLink.objects.filter(gateway=gateway)
            .select_related("dealer")
            .order_by("-created_at")
        ),
        replacements=list(GatewayReplacement.objects.filter(gateway=gateway)),
        transfers=list(
            OwnershipTransfer.objects.filter(
                Q(gateways__gateway=gateway)
                | (Q(site_id=gateway.site_id) if gateway.site_id else Q(pk__in=[]))
            )
            .select_related("started_by", "cancelled_by", "from_owner", "to_owner")
            .distinct()
            .order_by("-started_at")[:ACTIONS_SHOWN]
        ),
        actions=list(
            SupportAction.objects.filter(target_gateway=gateway).select_related("target_user")[
                :ACTIONS_SHOWN
            ]
        ),
    )


def recent_actions() -> QuerySet[SupportAction]:
    """Every desk and console action, newest first (the record's page pages it)."""
    return SupportAction.objects.select_related("target_user", "target_gateway")


def batches() -> QuerySet[ProvisioningBatch]:
    return ProvisioningBatch.objects.select_related("created_by").order_by("-created_at", "-pk")


def batch_with_pk(pk: int) -> ProvisioningBatch | None:
    return ProvisioningBatch.objects.filter(pk=pk).first()
