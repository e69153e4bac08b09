"""Claiming a gateway by its sheet: the ID and password checked (with failure limits),
the check carried between a flow's steps, and the gateway taken, held or released."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_datetime

from essmon.core import throttle
from essmon.gateways import selectors
from essmon.gateways.models import Gateway, Site

if TYPE_CHECKING:  # an owner is an account, one layer up: named, never imported
    from essmon.accounts.models import User

HOUR = timedelta(hours=1)


class GatewayError(Exception):
    """A refusal with a message for people (Japanese, shown next to the field)."""

    def __init__(self, message: str, *, field: str = "gateway_id") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


WRONG_CREDENTIALS = "ゲートウェイIDまたはゲートウェイパスワードが正しくありません。"
TOO_MANY_TRIES = (
    "ゲートウェイIDまたはパスワードの誤りが続いたため、確認を一時停止しています。"
    "1時間ほどおいてから再度お試しください。"
)
UNAVAILABLE = (
    "このゲートウェイはすでに登録済み、または登録手続き中のため登録できません。"
    "お心当たりのない場合はお問い合わせ窓口へご連絡ください。"
)


def _allowances(
    gateway_id: str, client_address: str, user_id: int | None
) -> list[throttle.Allowance]:
    """Strict per gateway ID and per account: guessing one sheet's password is what the
    limit is for. Per client address it is loose and short, since a whole apartment block,
    office or carrier NAT registers from one address; it still bounds how many sheets one
    client can try (and block for an hour) at a time."""
    per_gateway = settings.GATEWAY_PASSWORD_FAILURES_PER_HOUR
    allowances = [
        throttle.Allowance(f"gateway-password:id:{gateway_id}", per_gateway, HOUR),
        throttle.Allowance(
            f"gateway-password:addr:{throttle.address_key(client_address)}",
            settings.GATEWAY_PASSWORD_FAILURES_PER_ADDRESS,
            timedelta(minutes=settings.GATEWAY_PASSWORD_ADDRESS_WINDOW_MINUTES),
        ),
    ]
    if user_id is not None:
        allowances.append(throttle.Allowance(f"gateway-password:user:{user_id}", per_gateway, HOUR))
    return allowances


def check_gateway_credentials(
    *, gateway_id: str, password: str, client_address: str, user_id: int | None = None
) -> Gateway:
    """The unclaimed gateway these sheet credentials open, or a GatewayError.

    Unknown IDs and wrong passwords get one message and cost the same time, so the
    answer does not tell which IDs exist. Call it outside a transaction: the failure it
    counts must be committed even though it raises.
    """
    allowances = _allowances(gateway_id, client_address, user_id)
    if throttle.take_each(allowances) is not None:
        raise GatewayError(TOO_MANY_TRIES)
    gateway = selectors.gateway_with_id(gateway_id)
    if gateway is None:
        make_password(password, hasher="argon2")  # same cost as a real check
    if gateway is None or not check_password(password, gateway.password_hash):
        raise GatewayError(WRONG_CREDENTIALS)  # the try taken above stays counted
    throttle.give_back(keys=[a.key for a in allowances])
    return _available(gateway, user_id)


# How long a checked sheet password stands for the steps after it (入力 → 確認 → 登録).
VERIFIED_FOR = timedelta(hours=1)
VERIFY_AGAIN = (
    "ゲートウェイパスワードの確認から時間がたったため、"
    "お手数ですがもう一度ゲートウェイパスワードを入力してください。"
)


def _verification_binding(gateway: Gateway, verified_at: str) -> str:
    # bound to the password's hash: a re-provisioned sheet voids the marker
    value = f"{gateway.pk}|{gateway.gateway_id}|{gateway.password_hash}|{verified_at}"
    return salted_hmac("essmon.gateways.verified", value).hexdigest()


def verified_marker(*, gateway: Gateway) -> dict[str, str]:
    """What a multi-step flow keeps in its session once the sheet's password was right.

    Never the password: sessions are rows in the database, and an abandoned
    registration's stays there until it expires.
    """
    verified_at = timezone.now().isoformat()
    return {
        "gateway_id": gateway.gateway_id,
        "verified_at": verified_at,
        "binding": _verification_binding(gateway, verified_at),
    }


def verified_gateway(
    *, marker: dict[str, object] | None, gateway_id: str, user_id: int | None = None
) -> Gateway:
    """The unclaimed gateway that ``marker`` vouches for, or a GatewayError.

    The claim itself (take_gateway) still settles a race for the same gateway.
    """
    marker = marker if isinstance(marker, dict) else {}
    verified_at = str(marker.get("verified_at", ""))
    when = parse_datetime(verified_at)
    gateway = selectors.gateway_with_id(gateway_id)
    if (
        gateway is None
        or marker.get("gateway_id") != gateway_id
        or when is None
        or timezone.now() - when > VERIFIED_FOR
        or not constant_time_compare(
            str(marker.get("binding", "")), _verification_binding(gateway, verified_at)
        )
    ):
        raise GatewayError(VERIFY_AGAIN, field="gateway_password")
    return _available(gateway, user_id)


def open_gateway(
    *,
    gateway_id: str,
    client_address: str,
    password: str | None = None,
    verified: dict[str, object] | None = None,
    user_id: int | None = None,
) -> Gateway:
    """The unclaimed gateway to register: by its sheet password, or by the marker a
    previous step left after checking it (see verified_marker)."""
    if password is None:
        return verified_gateway(marker=verified, gateway_id=gateway_id, user_id=user_id)
    return check_gateway_credentials(
        gateway_id=gateway_id, password=password, client_address=client_address, user_id=user_id
    )


def _available(gateway: Gateway, user_id: int | None) -> Gateway:
    """``gateway`` if it may be registered now: unclaimed, or held for this very account
    (see reserve_gateway); else the one message for taken sheets."""
    reserved_here = (
        user_id is not None
        and gateway.state == Gateway.State.HELD
        and gateway.owner_id is None
        and gateway.reserved_for_id == user_id
    )
    if gateway.state != Gateway.State.UNCLAIMED and not reserved_here:
        raise GatewayError(UNAVAILABLE)
    return gateway


def _takeable(owner: User) -> Q:
    return Q(state=Gateway.State.UNCLAIMED) | Q(
        state=Gateway.State.HELD, owner__isnull=True, reserved_for=owner
    )


# Once claimed, the sheet is done with: its sealed password (kept for printing) goes.
SHEET_FORGOTTEN = {"sheet_password_sealed": ""}


def take_gateway(*, gateway: Gateway, owner: User, site: Site, hold: bool) -> None:
    """Move an unclaimed gateway to ``owner`` (held while provisional, else claimed).

    The conditional UPDATE makes two racing registrations safe: one of them changes the
    row, the other finds it no longer unclaimed.
    """
    now = timezone.now()
    values: dict[str, object] = {"owner": owner, "site": site, "reserved_for": None}
    if hold:
        values.update(state=Gateway.State.HELD, held_at=now)
    else:
        values.update(state=Gateway.State.CLAIMED, claimed_at=now, **SHEET_FORGOTTEN)
    changed = Gateway.objects.filter(_takeable(owner), pk=gateway.pk).update(**values)
    if changed != 1:
        raise GatewayError(UNAVAILABLE)


def reserve_gateway(*, gateway: Gateway, for_user: User) -> None:
    """Hold an unclaimed gateway without an owner, for ``for_user`` to claim once logged in.

    What a registration with an address that already has an account does instead of
    ``take_gateway``: to everyone else the gateway is 仮登録中 for as long, and released
    at the same time, as one held by a new provisional account.
    """
    changed = Gateway.objects.filter(pk=gateway.pk, state=Gateway.State.UNCLAIMED).update(
        state=Gateway.State.HELD, held_at=timezone.now(), reserved_for=for_user
    )
    if changed != 1:
        raise GatewayError(UNAVAILABLE)


def release_expired_reservations(*, older_than: timedelta) -> int:
    return Gateway.objects.filter(
        state=Gateway.State.HELD, owner__isnull=True, held_at__lte=timezone.now() - older_than
    ).update(state=Gateway.State.UNCLAIMED, held_at=None, reserved_for=None)


def confirm_held_gateways(*, owner: User) -> int:
    return Gateway.objects.filter(owner=owner, state=Gateway.State.HELD).update(
        state=Gateway.State.CLAIMED, claimed_at=timezone.now(), **SHEET_FORGOTTEN
    )


def release_held_gateways(*, owner: User) -> int:
    """Return a provisional registration's gateways to the unclaimed pool."""
    return Gateway.objects.filter(owner=owner, state=Gateway.State.HELD).update(
        state=Gateway.State.UNCLAIMED, owner=None, site=None, held_at=None
    )
