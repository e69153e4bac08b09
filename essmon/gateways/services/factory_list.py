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


def read_gateway_csv(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayListError([f"{path}: 読み込めません({exc})"]) from exc


def parse_gateway_csv(path: Path) -> list[ProvisionedGateway]:
    return parse_gateway_text(read_gateway_csv(path))


def parse_gateway_text(text: str) -> list[ProvisionedGateway]:
    """Read a factory list (header gateway_id,password,model[,part_number[,device_secret]]).

    Every malformed row is reported with its line number, in Japanese (the command prints
    the messages, the console shows them); nothing is loaded unless all are good.
    """
    problems: list[str] = []
    rows: list[ProvisionedGateway] = []
    seen: dict[str, int] = {}
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise GatewayListError([f"1行目: CSVとして読めません({exc})"]) from exc
    if header is None or [h.strip() for h in header] not in (
        list(CSV_FIELDS[:3]),
        list(CSV_FIELDS[:4]),
        list(CSV_FIELDS),
    ):
        raise GatewayListError(
            [
                f"1行目: 見出しは {','.join(CSV_FIELDS)} にしてください"
                "(part_number と device_secret は省略できます)"
            ]
        )
    columns = len(header)
    line_no = 1
    while True:
        line_no += 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"{line_no}行目: CSVとして読めません({exc})")
            continue
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) not in (3, 4, 5) or len(record) > columns:
            problems.append(
                f"{line_no}行目: 列の数が見出しと違います(見出し{columns}列、この行{len(record)}列)"
            )
            continue
        gateway_id, password, model = (cell.strip() for cell in record[:3])
        part_number = record[3].strip() if len(record) >= 4 else ""
        device_secret = record[4].strip() if len(record) == 5 else ""
        if device_secret and not DEVICE_SECRET_RE.match(device_secret):
            problems.append(
                f"{line_no}行目: device_secret は英数字・「-」・「_」の24〜64文字にしてください"
            )
        if not is_valid_gateway_id(gateway_id):
            problems.append(
                f"{line_no}行目: gateway_id {gateway_id[:40]!r} が、数字2桁・英大文字2文字・"
                "数字8桁の形(例: 01AB12345678)ではありません"
            )
        if not re.fullmatch(r"[A-Za-z0-9]{8,32}", password):
            problems.append(f"{line_no}行目: password は英数字8〜32文字にしてください")
        if not MODEL_RE.match(model):
            problems.append(
                f"{line_no}行目: model {model[:40]!r} が形式名(例: KP-GWBT-A)の形ではありません"
            )
        if len(part_number) > PART_NUMBER_MAX:
            problems.append(f"{line_no}行目: part_number が{PART_NUMBER_MAX}文字を超えています")
        if has_control_chars(part_number):
            problems.append(f"{line_no}行目: part_number に制御文字が含まれています")
        if gateway_id in seen:
            problems.append(
                f"{line_no}行目: gateway_id {gateway_id} が{seen[gateway_id]}行目と重複しています"
            )
        seen.setdefault(gateway_id, line_no)
        rows.append(ProvisionedGateway(gateway_id, password, model, part_number, device_secret))
    if not rows and not problems:
        problems.append("ゲートウェイが1台もありません")
    existing = selectors.existing_gateway_ids(r.gateway_id for r in rows)
    for gateway_id in sorted(existing):
        problems.append(f"{seen[gateway_id]}行目: gateway_id {gateway_id} はすでに登録されています")
    if problems:
        raise GatewayListError(problems)
    return rows


def import_gateways(
    *,
    path: Path | None = None,
    text: str | None = None,
    name: str = "",
    origin: str = "import-gateways",
    created_by: User | None = None,
) -> ProvisioningBatch:
    """The list's gateways (the file at ``path``, or ``text`` read from the file ``name``),
    recorded as one batch; their passwords kept sealed for printing the sheets until
    claimed, as provisioning's are."""
    if path is not None:
        text, name = read_gateway_csv(path), path.name
    rows = parse_gateway_text(text or "")
    with transaction.atomic():
        batch = open_batch(
            source=ProvisioningBatch.Source.IMPORTED,
            origin=f"{origin} {name}",
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
    return batch
