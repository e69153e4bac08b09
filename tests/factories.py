"""Test data built through the real services where one exists."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from essmon.accounts.models import TermsAcceptance, User
from essmon.accounts.selectors import terms_to_agree
from essmon.accounts.services.terms import agree_to_terms
from essmon.gateways.models import Gateway, Site
from essmon.gateways.services.credentials import hash_gateway_password

_serial = itertools.count(1)

# two days back: inside every limit the ingest checks (provisioning, retention, clock)
BASE_TS = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
_user_hashes: dict[str, str] = {}
_gateway_hashes: dict[str, str] = {}


def _user_hash(password: str) -> str:
    """Real Argon2, computed once per password: hashing is what makes tests slow."""
    from django.contrib.auth.hashers import make_password

    if password not in _user_hashes:
        _user_hashes[password] = make_password(password)
    return _user_hashes[password]


def _gateway_hash(password: str) -> str:
    if password not in _gateway_hashes:
        _gateway_hashes[password] = hash_gateway_password(password)
    return _gateway_hashes[password]


GATEWAY_PASSWORD = "abcedfghijk12"
USER_PASSWORD = "Solar2024Kyoto"


def gateway(
    *, password: str = GATEWAY_PASSWORD, gateway_id: str | None = None, **fields
) -> Gateway:
    gateway_id = gateway_id or f"01AB{next(_serial):08d}"
    return Gateway.objects.create(
        gateway_id=gateway_id, password_hash=_gateway_hash(password), **fields
    )


def customer(
    *,
    email: str | None = None,
    password: str = USER_PASSWORD,
    agreed_to_terms: bool = True,
    **fields,
) -> User:
    email = email or f"user{next(_serial)}@example.jp"
    defaults = dict(
        name="御室 花子",
        furigana="オムロ　ハナコ",
        postal_code="6008216",
        prefecture="京都府",
        city="京都市下京区",
        address_rest="東塩小路町1-1",
        phone="+819012345678",
        is_active=True,
        activated_at=timezone.now(),
    )
    defaults.update(fields)
    user = User.objects.create_user(email, None, **defaults)
    User.objects.filter(pk=user.pk).update(password=_user_hash(password))
    user.password = _user_hash(password)
    if agreed_to_terms:  # as an account made by registration has
        agree_to_terms(
            user=user,
            terms=terms_to_agree(user=user),
            context=TermsAcceptance.Context.REGISTRATION,
            client_address=None,
        )
    return user


def site(*, owner: User, name: str = "御室邸") -> Site:
    return Site.objects.create(
        owner=owner,
        name=name,
        postal_code="6008216",
        prefecture="京都府",
        city="京都市下京区",
        address_rest="東塩小路町1-1",
    )


REGISTRATION_FORM = {
    "name": "御室 花子",
    "furigana": "おむろ はなこ",
    "email": "hanako@example.jp",
    "email_confirm": "hanako@example.jp",
    "postal_code": "600-8216",
    "prefecture": "京都府",
    "city": "京都市下京区",
    "address_rest": "東塩小路町1-1",
    "phone": "090-1234-5678",
    "company_name": "",
    "department": "",
    "gateway_id": "",
    "gateway_password": GATEWAY_PASSWORD,
    "site_name": "御室邸",
    "site_postal_code": "600-8216",
    "site_prefecture": "京都府",
    "site_city": "京都市下京区",
    "site_address_rest": "東塩小路町1-1",
}


DEALER_FORM = {
    "company_name": "京都蓄電サービス株式会社",
    "branch": "京都支店",
    "name": "販売 一郎",
    "furigana": "はんばい いちろう",
    "email": "ichiro@dealer.example.jp",
    "email_confirm": "ichiro@dealer.example.jp",
    "postal_code": "600-8216",
    "prefecture": "京都府",
    "city": "京都市下京区",
    "address_rest": "東塩小路町2-2",
    "phone": "075-111-2222",
}


def dealer(
    *,
    code: str | None = None,
    phone: str = "+81751112222",
    company: str = "京都蓄電サービス",
    **fields,
):
    from essmon.dealers.models import Dealer, MaintenanceStaff

    user = customer(role="dealer", phone=phone, name=fields.pop("name", "販売 一郎"), **fields)
    made = Dealer.objects.create(
        user=user, dealer_code=code or f"D{next(_serial):07d}", company_name=company
    )
    MaintenanceStaff.objects.create(
        dealer=made, name=user.name, email=user.email, confirmed_at=timezone.now()
    )
    return made


def owned_gateway(*, owner=None, site_name: str = "御室邸") -> Gateway:
    owner = owner or customer()
    return gateway(state="claimed", owner=owner, site=site(owner=owner, name=site_name))


def connected_gateway(*, provisioned_days_ago: int = 30) -> Gateway:
    """An owned gateway provisioned a while ago, with a device secret set as ``.secret``."""
    from datetime import timedelta

    from essmon.gateways.services.credentials import rotate_device_secret

    made = owned_gateway()
    made.provisioned_at = timezone.now() - timedelta(days=provisioned_days_ago)
    made.save(update_fields=["provisioned_at"])
    made.secret = rotate_device_secret(gateway=made)
    return made


def sample(
    seq: int = 1,
    *,
    ts: datetime | str | None = None,
    minutes_ago: float | None = None,
    **overrides,
) -> dict:
    """Sample ``seq`` of a gateway as it is sent (docs/protocol.md): by default one second
    after the one before, from ``BASE_TS``, its PV counter growing with ``seq``; at ``ts``
    or ``minutes_ago`` before now (to the second) when given. Any field can be overridden."""
    if ts is None:
        if minutes_ago is None:
            ts = BASE_TS + timedelta(seconds=seq)
        else:
            ts = (timezone.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return {
        "ts": ts if isinstance(ts, str) else ts.isoformat(),
        "seq": seq,
        "pv_w": 1200.0,
        "load_w": 800.0,
        "grid_w": -400.0,
        "battery_w": 0.0,
        "soc_pct": 55.0,
        "battery_temp_c": 24.0,
        "pcs_state": "running",
        "pcs_mode": "economy",
        "pv_kwh": 10 + seq / 3600,
        "load_kwh": 5.0,
        "grid_import_kwh": 1.0,
        "grid_export_kwh": 4.0,
        "charge_kwh": 2.0,
        "discharge_kwh": 1.5,
        **overrides,
    }


def viewer(*, owner: User, gateway: Gateway, email: str | None = None, **fields) -> User:
    """A family viewer (見守り) of ``gateway``, invited by ``owner`` and accepted, through
    the services (so the records are the real ones)."""
    from essmon.accounts.tokens import issue_token
    from essmon.dealers.models import SiteViewer
    from essmon.dealers.services.viewers import INVITATION_LIFETIME, accept_invitation

    email = email or f"viewer{next(_serial)}@example.jp"
    _, token = issue_token(
        user=owner,
        purpose="viewer_invitation",
        lifetime=INVITATION_LIFETIME,
        new_email=email,
    )
    SiteViewer.objects.create(gateway=gateway, invited_by=owner, email=email, token=token)
    accept_invitation(token=token, name=fields.get("name", "見守り 一郎"), password=USER_PASSWORD)
    user = User.objects.get(email=email)
    User.objects.filter(pk=user.pk).update(password=_user_hash(USER_PASSWORD))
    user.password = _user_hash(USER_PASSWORD)
    return user


def dealer_staff(*, dealer, role: str = "technician", name: str = "技術 次郎", **fields) -> User:
    """A staff member of ``dealer`` with a login of ``role`` (技術担当 or 閲覧のみ), as
    ``accept_staff_login`` leaves it (the flow itself: tests/dealers/test_staff_logins.py),
    without hashing a password per call (the access matrix makes three per test)."""
    from essmon.accounts.models import TermsAcceptance
    from essmon.accounts.selectors import terms_in_force
    from essmon.dealers.models import MaintenanceStaff

    email = fields.get("email") or f"staff{next(_serial)}@example.jp"
    user = User.objects.create(
        email=email,
        password=_user_hash(USER_PASSWORD),
        name=name,
        role=User.Role.DEALER_STAFF,
        is_active=True,
        activated_at=timezone.now(),
    )
    for version in terms_in_force("dealer"):
        TermsAcceptance.objects.create(user=user, terms=version, context="registration")
    MaintenanceStaff.objects.create(
        dealer=dealer,
        name=name,
        email=email,
        confirmed_at=timezone.now(),
        user=user,
        login_role=role,
        login_invited_at=timezone.now(),
    )
    return user


def admin_operator(**fields) -> User:
    """運営者(管理担当): administration, the admin and the provisioning console."""
    defaults = dict(
        email=f"admin{next(_serial)}@maker.example.jp",
        name="管理 次郎",
        role=User.Role.OPERATOR,
        is_staff=True,
        is_superuser=True,
    )
    return customer(**{**defaults, **fields})


def support_operator(**fields) -> User:
    """運営者(サポート担当): the support desk only, no admin."""
    defaults = dict(
        email=f"support{next(_serial)}@maker.example.jp",
        name="窓口 三郎",
        role=User.Role.SUPPORT,
    )
    return customer(**{**defaults, **fields})
