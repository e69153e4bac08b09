"""The factory's list of gateways: checked whole, then loaded at once or not at all."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction

from essmon.core.text import has_control_chars
from essmon.gateways import selectors
from essmon.gateways.identifiers import MODEL_RE, PART_NUMBER_MAX, is_valid_gateway_id
from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.gateways.services.credentials import (
    DEVICE_SECRET_RE,
    hash_device_secret,
    hash_gateway_password,
    seal_sheet_password,
)
from essmon.gateways.services.provisioning import CSV_FIELDS, ProvisionedGateway, open_batch

if TYPE_CHECKING:
    from essmon.accounts.models import User


class GatewayListError(Exception):
    """A factory list we refuse, with every bad line named."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_gateway_csv(path: Path) -> list[ProvisionedGateway]:
    """Read a factory list (header gateway_id,password,model[,part_number[,device_secret]]).

    Every malformed row is reported with its line number; nothing is loaded unless all are good.
    """
    problems: list[str] = []
    rows: list[ProvisionedGateway] = []
    seen: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayListError([f"{path}: cannot read: {exc}"]) from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header] not in (
        list(CSV_FIELDS[:3]),
        list(CSV_FIELDS[:4]),
        list(CSV_FIELDS),
    ):
        raise GatewayListError(
            [
                f"line 1: header must be {','.join(CSV_FIELDS)} "
                "(part_number and device_secret optional)"
            ]
        )
    columns = len(header)
    for line_no, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) not in (3, 4, 5) or len(record) > columns:
            problems.append(
                f"line {line_no}: expected {columns} columns as in the header, got {len(record)}"
            )
            continue
        gateway_id, password, model = (cell.strip() for cell in record[:3])
        part_number = record[3].strip() if len(record) >= 4 else ""
        device_secret = record[4].strip() if len(record) == 5 else ""
        if device_secret and not DEVICE_SECRET_RE.match(device_secret):
            problems.append(
                f"line {line_no}: device_secret must be 24-64 letters, digits, '-' or '_'"
            )
        if not is_valid_gateway_id(gateway_id):
            problems.append(
                f"line {line_no}: gateway_id {gateway_id!r} is not 2 digits, 2 capital letters "
                "and 8 digits (e.g. 01AB12345678)"
            )
        if not re.fullmatch(r"[A-Za-z0-9]{8,32}", password):
            problems.append(f"line {line_no}: password must be 8-32 letters and digits")
        if not MODEL_RE.match(model):
            problems.append(f"line {line_no}: model {model!r} is not a model name like KP-GWBT-A")
        if len(part_number) > PART_NUMBER_MAX:
            problems.append(f"line {line_no}: part_number is over {PART_NUMBER_MAX} characters")
        if has_control_chars(part_number):
            problems.append(f"line {line_no}: part_number holds a control character")
        if gateway_id in seen:
            problems.append(
                f"line {line_no}: gateway_id {gateway_id} repeats line {seen[gateway_id]}"
            )
        seen.setdefault(gateway_id, line_no)
        rows.append(ProvisionedGateway(gateway_id, password, model, part_number, device_secret))
    if not rows and not problems:
        problems.append("the file has no gateways")
    existing = selectors.existing_gateway_ids(r.gateway_id for r in rows)
    for gateway_id in sorted(existing):
        problems.append(f"line {seen[gateway_id]}: gateway_id {gateway_id} already exists")
    if problems:
        raise GatewayListError(problems)
    return rows


def import_gateways(
    *, path: Path, origin: str = "import-gateways", created_by: User | None = None
) -> int:
    """The list's gateways, recorded as one batch; their passwords kept sealed for printing
    the sheets until claimed, as provisioning's are."""
    rows = parse_gateway_csv(path)
    with transaction.atomic():
        batch = open_batch(
            source=ProvisioningBatch.Source.IMPORTED,
            origin=f"{origin} {path.name}",
            created_by=created_by,
            models=(r.model for r in rows),
            part_numbers=(r.part_number for r in rows),
            count=len(rows),
        )
        Gateway.objects.bulk_create(
            Gateway(
                gateway_id=r.gateway_id,
                password_hash=hash_gateway_password(r.password),
                device_secret_hash=hash_device_secret(r.device_secret) if r.device_secret else "",
                model=r.model,
                part_number=r.part_number,
                batch=batch,
                sheet_password_sealed=seal_sheet_password(r.password),
            )
            for r in rows
        )
    return len(rows)
