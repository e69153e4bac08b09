"""Demo data for ``essmon serve --demo``: an operator account and unclaimed gateways.

The plaintext gateway passwords live only in the demo CSV in the data directory, exactly
as a factory list would; the operator's password only in demo-credentials.txt.
"""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from essmon.accounts.models import User
from essmon.gateways.models import Gateway
from essmon.gateways.services import (
    CSV_FIELDS,
    ProvisionedGateway,
    hash_device_secret,
    provision_gateways,
)

OPERATOR_EMAIL = "operator@essmon.example"
MIN_UNCLAIMED = 3
BATCH = 5


@dataclass(frozen=True)
class DemoData:
    operator_email: str
    operator_password: str
    gateways: list[ProvisionedGateway]


def _demo_password() -> str:
    # satisfies the seed's rule: lower, upper and digits, 16 characters
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
            unclaimed.extend(fresh)
    return DemoData(OPERATOR_EMAIL, operator_password, unclaimed)


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
