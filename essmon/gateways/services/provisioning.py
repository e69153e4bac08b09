"""Provisioning: new unclaimed gateways with fresh credentials, recorded as a batch
(``ProvisioningBatch``) whose sheets ``print-sheets`` prints, and the sheet list."""

from __future__ import annotations

import csv
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from essmon.core.text import has_control_chars
from essmon.gateways.identifiers import MODEL_RE, PART_NUMBER_MAX
from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.gateways.services.credentials import (
    generate_device_secret,
    generate_password,
    hash_device_secret,
    hash_gateway_password,
    seal_sheet_password,
)

if TYPE_CHECKING:
    from essmon.accounts.models import User

DEFAULT_MODEL = "KP-GWBT-A"
MAX_COUNT = 100_000  # one run: the command's and the console's limit
# two ASCII digits (not str.isdigit(): it also accepts full-width and other scripts' digits)
LOT_RE = re.compile(r"[0-9]{2}")


class ProvisioningError(ValueError):
    """Provisioning refused, with the reason for people (the command and the console)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


MIXED = "(複数)"
CSV_FIELDS = ("gateway_id", "password", "model", "part_number", "device_secret")


def _generate_gateway_id(lot: str) -> str:
    letters = "".join(secrets.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return f"{lot}{letters}{secrets.randbelow(10**8):08d}"


@dataclass(frozen=True)
class ProvisionedGateway:
    gateway_id: str
    password: str
    model: str
    part_number: str
    device_secret: str = ""
    batch_id: int | None = None  # the ProvisioningBatch it was made or imported in


def open_batch(
    *,
    source: str,
    origin: str,
    created_by: User | None,
    models: Iterable[str],
    part_numbers: Iterable[str],
    count: int,
) -> ProvisioningBatch:
    """The record of one run; its gateways are then created with ``batch`` set. A factory
    list may mix models: the batch then says so instead of naming one."""
    distinct_models, distinct_parts = sorted(set(models)), sorted(set(part_numbers))
    return ProvisioningBatch.objects.create(
        source=source,
        origin=origin[:200],
        created_by=created_by,
        model=distinct_models[0] if len(distinct_models) == 1 else MIXED,
        part_number=distinct_parts[0] if len(distinct_parts) == 1 else MIXED,
        count=count,
    )


def check_provisioning(*, count: int, model: str, part_number: str, lot: str | None) -> None:
    """The rules of one run, the same whether the command or the console asks."""
    if not 1 <= count <= MAX_COUNT:
        raise ProvisioningError(f"台数は1〜{MAX_COUNT}台で指定してください。")
    if lot is not None and not LOT_RE.fullmatch(lot):
        raise ProvisioningError("ロット(IDの先頭2桁)は半角数字2桁で指定してください(例: 01)。")
    if not MODEL_RE.match(model):
        raise ProvisioningError(
            f"形式 {model[:40]!r} は英大文字・数字・ハイフンで指定してください(例: KP-GWBT-A)。"
        )
    if len(part_number) > PART_NUMBER_MAX:
        raise ProvisioningError(f"品番は{PART_NUMBER_MAX}文字以内で指定してください。")
    if has_control_chars(part_number):
        raise ProvisioningError("品番に制御文字は使えません。")


def provision_gateways(
    *,
    count: int,
    model: str = DEFAULT_MODEL,
    part_number: str = "",
    lot: str | None = None,
    origin: str = "provision-gateways",
    created_by: User | None = None,
    before_commit: Callable[[list[ProvisionedGateway]], None] | None = None,
) -> list[ProvisionedGateway]:
    """Create ``count`` unclaimed gateways with fresh passwords; the plaintexts are returned
    once, for the sheet list, and kept only sealed for printing the sheets until claimed.
    The run is recorded as one ``ProvisioningBatch`` (``origin``: the command or page).
    ``before_commit`` runs inside the transaction (writing the sheet list: if it fails, no
    gateway is kept)."""
    check_provisioning(count=count, model=model, part_number=part_number, lot=lot)
    lot = lot or f"{timezone.localdate().year % 100:02d}"
    # The slow part (Argon2, ~50 ms a gateway) runs before the transaction: a factory batch
    # of thousands must not hold the database's write lock for minutes.
    drafts = []
    for _ in range(count):
        password, secret = generate_password(), generate_device_secret()
        drafts.append(
            (password, secret, hash_gateway_password(password), hash_device_secret(secret))
        )
    created: list[ProvisionedGateway] = []
    with transaction.atomic():
        batch = open_batch(
            source=ProvisioningBatch.Source.PROVISIONED,
            origin=origin,
            created_by=created_by,
            models=[model],
            part_numbers=[part_number],
            count=count,
        )
        for password, secret, password_hash, secret_hash in drafts:
            while True:
                gateway_id = _generate_gateway_id(lot)
                try:
                    with transaction.atomic():
                        Gateway.objects.create(
                            gateway_id=gateway_id,
                            model=model,
                            part_number=part_number,
                            password_hash=password_hash,
                            device_secret_hash=secret_hash,
                            batch=batch,
                            sheet_password_sealed=seal_sheet_password(password),
                        )
                    break
                except IntegrityError:
                    continue  # an ID collision; draw again
            created.append(
                ProvisionedGateway(gateway_id, password, model, part_number, secret, batch.pk)
            )
        if before_commit is not None:
            before_commit(created)
    return created


def write_gateway_csv(path: Path, rows: Iterable[ProvisionedGateway]) -> None:
    """Write the sheet list to a new file, owner-only from the start (it holds plaintexts)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            writer.writerow(
                [row.gateway_id, row.password, row.model, row.part_number, row.device_secret]
            )
