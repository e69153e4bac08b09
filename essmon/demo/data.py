"""Demo data for ``essmon serve --demo``: an operator account, unclaimed gateways, and a
household whose gateway is entrusted to a dealer, with two days of history, so that the
monitoring site has something to show at once.

The plaintext gateway passwords live only in the demo CSV in the data directory, exactly
as a factory list would; the accounts' passwords only in demo-credentials.txt.
"""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import TermsAcceptance, User
from essmon.accounts.selectors import terms_to_agree
from essmon.accounts.services.terms import agree_to_terms
from essmon.core.jst import JST
from essmon.dealers.models import Dealer, MaintenanceStaff
from essmon.dealers.services.links import link_dealer
from essmon.dealers.services.registration import new_dealer_code
from essmon.gateways.models import Gateway, Site
from essmon.gateways.services.credentials import hash_device_secret
from essmon.gateways.services.provisioning import CSV_FIELDS, ProvisionedGateway, provision_gateways
from essmon.simulator.physics import SimulatedSite, model_spec
from essmon.simulator.state import entry, save_state
from essmon.telemetry.ingest import ingest_samples
from essmon.telemetry.rollups import rollup_energy
from essmon.warranty.services import change_dates

OPERATOR_EMAIL = "operator@essmon.example"
CUSTOMER_EMAIL = "customer@essmon.example"
DEALER_EMAIL = "dealer@essmon.example"
# one of the dealer's 保守担当者 with a staff login of their own (販売店スタッフ, 技術担当)
STAFF_EMAIL = "staff@essmon.example"
# the maker's support desk (運営者(サポート担当)): the desk and every system's pages to read
SUPPORT_EMAIL = "support@essmon.example"
MIN_UNCLAIMED = 3
BATCH = 5
HISTORY_DAYS = 2
# The demo's gateways were "made" before today, as real ones are: a sample timestamped
# before its gateway's provisioning is refused.
MADE_BEFORE = timedelta(days=HISTORY_DAYS + 1)
# The simulator's state file (simulator.state): the back-filled history's last counters go
# in, so that the live samples continue them; the simulator keeps it from run to run.
SIMULATOR_STATE = "demo-simulator-state.json"


@dataclass(frozen=True)
class DemoData:
    operator_email: str
    operator_password: str
    gateways: list[ProvisionedGateway]
    customer_email: str = CUSTOMER_EMAIL
    customer_password: str = ""
    dealer_email: str = DEALER_EMAIL
    dealer_password: str = ""
    staff_email: str = STAFF_EMAIL
    staff_password: str = ""
    support_email: str = SUPPORT_EMAIL
    support_password: str = ""


def _demo_password() -> str:
    # satisfies the password rule: lower, upper and digits, 16 characters
    return "Demo" + secrets.token_hex(6)[:10] + "7x"


def ensure_demo_data(data_dir: Path | None = None) -> DemoData:
    data_dir = data_dir or settings.DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    cred_file = data_dir / "demo-credentials.txt"
    csv_file = data_dir / "demo-gateways.csv"
    with transaction.atomic():
        operator = User.objects.filter(email=OPERATOR_EMAIL).first()
        if operator is None or not cred_file.exists():
            password = _demo_password()
            if operator is None:
                User.objects.create_superuser(OPERATOR_EMAIL, password, name="運営担当者")
            else:
                operator.set_password(password)
                operator.save(update_fields=["password"])
            cred_file.write_text(f"{OPERATOR_EMAIL}\n{password}\n")
            cred_file.chmod(0o600)
        operator_password = cred_file.read_text().splitlines()[1]

        known = _read_csv(csv_file)
        _restore_device_secrets(known)
        unclaimed_ids = set(
            Gateway.objects.filter(
                gateway_id__in=[g.gateway_id for g in known], state=Gateway.State.UNCLAIMED
            ).values_list("gateway_id", flat=True)
        )
        unclaimed = [g for g in known if g.gateway_id in unclaimed_ids]
        if len(unclaimed) < MIN_UNCLAIMED:
            fresh = provision_gateways(count=BATCH, part_number="2874598-7 A", lot="01")
            _append_csv(csv_file, fresh)
            _made_earlier(fresh)
            unclaimed.extend(fresh)
        customer_password, dealer_password = _ensure_household(
            data_dir / "demo-household.txt", csv_file, data_dir / SIMULATOR_STATE
        )
        staff_password = _ensure_staff_login(data_dir / "demo-staff.txt")
        support_password = _ensure_support_login(data_dir / "demo-support.txt")
    return DemoData(
        OPERATOR_EMAIL,
        operator_password,
        unclaimed,
        customer_password=customer_password,
        dealer_password=dealer_password,
        staff_password=staff_password,
        support_password=support_password,
    )


def _ensure_support_login(cred_file: Path) -> str:
    """A support operator (サポート担当) for the desk at /support/; made once (also in a
    data directory made before the two operator roles), its password kept in ``cred_file``."""
    user = User.objects.filter(email=SUPPORT_EMAIL).first()
    if cred_file.exists() and user is not None:
        return cred_file.read_text().splitlines()[1]
    password = _demo_password()
    if user is None:
        User.objects.create_user(
            SUPPORT_EMAIL,
            password,
            role=User.Role.SUPPORT,
            name="サポート 花子",
            is_active=True,
            activated_at=timezone.now(),
        )
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    cred_file.write_text(f"{SUPPORT_EMAIL}\n{password}\n")
    cred_file.chmod(0o600)
    return password


def _made_earlier(rows: list[ProvisionedGateway]) -> None:
    Gateway.objects.filter(gateway_id__in=[r.gateway_id for r in rows]).update(
        provisioned_at=timezone.now() - MADE_BEFORE
    )


def _ensure_household(cred_file: Path, csv_file: Path, state_file: Path) -> tuple[str, str]:
    """A customer with one claimed gateway (in the demo CSV, so the simulator feeds it),
    entrusted to a dealer; made once, its passwords kept in ``cred_file``."""
    if cred_file.exists() and User.objects.filter(email=CUSTOMER_EMAIL).exists():
        lines = cred_file.read_text().splitlines()
        return lines[1], lines[3]
    User.objects.filter(email__in=[CUSTOMER_EMAIL, DEALER_EMAIL]).delete()
    customer_password, dealer_password = _demo_password(), _demo_password()
    person = {
        "postal_code": "6008216",
        "prefecture": "京都府",
        "city": "京都市下京区",
        "is_active": True,
        "activated_at": timezone.now(),
    }
    customer = User.objects.create_user(
        CUSTOMER_EMAIL,
        customer_password,
        name="嵯峨 花子",
        furigana="サガ　ハナコ",
        address_rest="東塩小路町1-1",
        phone="+819012345678",
        **person,
    )
    dealer_user = User.objects.create_user(
        DEALER_EMAIL,
        dealer_password,
        role=User.Role.DEALER,
        name="販売 一郎",
        furigana="ハンバイ　イチロウ",
        address_rest="烏丸通七条下ル",
        phone="+81751112222",
        **person,
    )
    for user in (customer, dealer_user):
        # as if registered: agreed to the terms in force, so the logins open the menus
        agree_to_terms(
            user=user,
            terms=terms_to_agree(user=user),
            context=TermsAcceptance.Context.REGISTRATION,
            client_address=None,
        )
    dealer = Dealer.objects.create(
        user=dealer_user, dealer_code=new_dealer_code(), company_name="洛南電設"
    )
    MaintenanceStaff.objects.create(
        dealer=dealer, name=dealer_user.name, email=DEALER_EMAIL, confirmed_at=timezone.now()
    )
    [row] = provision_gateways(count=1, part_number="2874598-7 A", lot="01")
    _append_csv(csv_file, [row])
    _made_earlier([row])
    gateway = Gateway.objects.get(gateway_id=row.gateway_id)
    gateway.owner, gateway.state, gateway.claimed_at = (
        customer,
        Gateway.State.CLAIMED,
        timezone.now(),
    )
    gateway.site = Site.objects.create(
        owner=customer,
        name="嵯峨野の家",
        postal_code="6168343",
        prefecture="京都府",
        city="京都市右京区",
        address_rest="嵯峨朝日町1-1",
    )
    gateway.save()
    link_dealer(customer=customer, gateway=gateway, dealer=dealer)
    today = timezone.localdate(timezone.now(), JST)
    change_dates(
        gateway=gateway,
        user=customer,
        received_date=today - timedelta(days=10),
        grid_connection_date=today - timedelta(days=3),
    )
    transaction.on_commit(lambda: _history(gateway, state_file))
    cred_file.write_text(
        f"{CUSTOMER_EMAIL}\n{customer_password}\n{DEALER_EMAIL}\n{dealer_password}\n"
    )
    cred_file.chmod(0o600)
    return customer_password, dealer_password


def _ensure_staff_login(cred_file: Path) -> str:
    """The demo dealer's technician (技術担当) with a login of their own, as accepting the
    administrator's invitation leaves it (dealers.services.staff_logins); made once (also in
    a data directory made before staff logins), its password kept in ``cred_file``."""
    dealer = Dealer.objects.get(user__email=DEALER_EMAIL)
    user = User.objects.filter(email=STAFF_EMAIL).first()
    if cred_file.exists() and user is not None:
        return cred_file.read_text().splitlines()[1]  # as left: an ended login stays ended
    # (a new household, or a data directory from before staff logins)
    MaintenanceStaff.objects.filter(email=STAFF_EMAIL).delete()
    User.objects.filter(email=STAFF_EMAIL).delete()
    password = _demo_password()
    now = timezone.now()
    user = User.objects.create_user(
        STAFF_EMAIL,
        password,
        role=User.Role.DEALER_STAFF,
        name="技術 次郎",
        is_active=True,
        activated_at=now,
    )
    agree_to_terms(
        user=user,
        terms=terms_to_agree(user=user),
        context=TermsAcceptance.Context.REGISTRATION,
        client_address=None,
    )
    MaintenanceStaff.objects.create(
        dealer=dealer,
        name=user.name,
        email=STAFF_EMAIL,
        confirmed_at=now,
        user=user,
        login_role=MaintenanceStaff.LoginRole.TECHNICIAN,
        login_invited_at=now,
    )
    cred_file.write_text(f"{STAFF_EMAIL}\n{password}\n")
    cred_file.chmod(0o600)
    return password


def _history(gateway: Gateway, state_file: Path) -> None:
    """The days before now, from the simulator's physics, stored and rolled up as if the
    gateway had reported them; the counters it ended with go into the simulator's state
    file, so the simulator's first live sample continues them."""
    now = timezone.now()
    start = timezone.localtime(now, JST).replace(hour=0, minute=0, second=0, microsecond=0)
    site = SimulatedSite(
        model_spec(gateway.model),
        start=(start - timedelta(days=HISTORY_DAYS)).timestamp(),
        seed=gateway.gateway_id,
    )
    samples: list[dict] = []
    while site.t + 60 < (now - timedelta(minutes=1)).timestamp():
        samples.append(site.step(60).as_sample(len(samples)))
    for chunk in range(0, len(samples), 500):
        ingest_samples(gateway=gateway, samples=samples[chunk : chunk + 500], now=now)
    save_state(
        state_file, {gateway.gateway_id: entry(site.t, site.counters, site.soc_pct, len(samples))}
    )
    rollup_energy()


def _restore_device_secrets(known: list[ProvisionedGateway]) -> None:
    # A data directory from before device secrets were hashed for the broker: the demo CSV
    # still has the secrets, so its simulated gateways keep working.
    secrets_by_id = {g.gateway_id: g.device_secret for g in known if g.device_secret}
    for gateway in Gateway.objects.filter(gateway_id__in=secrets_by_id, device_secret_hash=""):
        gateway.device_secret_hash = hash_device_secret(secrets_by_id[gateway.gateway_id])
        gateway.save(update_fields=["device_secret_hash"])


def _read_csv(path: Path) -> list[ProvisionedGateway]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [
            ProvisionedGateway(
                r["gateway_id"],
                r["password"],
                r["model"],
                r.get("part_number", ""),
                r.get("device_secret", ""),
            )
            for r in csv.DictReader(fh)
        ]


def _append_csv(path: Path, rows: list[ProvisionedGateway]) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(CSV_FIELDS)
        for row in rows:
            writer.writerow(
                [row.gateway_id, row.password, row.model, row.part_number, row.device_secret]
            )
    path.chmod(0o600)
