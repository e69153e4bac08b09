"""Gateway registry: provisioning, factory import, and claiming by the sheet's ID and password."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_datetime

from essmon.core import throttle
from essmon.core.japanese import to_halfwidth_ascii
from essmon.core.text import has_control_chars
from essmon.gateways.models import Gateway, Site

if TYPE_CHECKING:  # an owner is an account, one layer up: named, never imported
    from essmon.accounts.models import User

# [0-9], not \d: \d also matches full-width and other scripts' digits. \Z, not $: $ also
# matches before a trailing newline.
GATEWAY_ID_RE = re.compile(r"^[0-9]{2}[A-Z]{2}[0-9]{8}\Z")
MODEL_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}\Z")
PART_NUMBER_MAX = 32  # Gateway.part_number's max_length
# The sheet's passwords are lowercase letters and digits (e.g. abcedfghijk12); letters
# and digits that read alike on paper (l/1, o/0) are left out.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PASSWORD_LENGTH = 13
DEFAULT_MODEL = "KP-GWBT-A"
HOUR = timedelta(hours=1)
CSV_FIELDS = ("gateway_id", "password", "model", "part_number", "device_secret")
DEVICE_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{24,64}\Z")


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


def normalize_gateway_id(value: str) -> str:
    """Upper-case half-width, without the spaces and hyphens people add when copying."""
    return re.sub(r"[\s\-‐－ー]", "", to_halfwidth_ascii(value)).upper()


def is_valid_gateway_id(value: str) -> bool:
    return bool(GATEWAY_ID_RE.match(value)) and not any(c in value for c in "+#/")


def generate_password() -> str:
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        # the sheet's kind: letters with some digits
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


def _generate_gateway_id(lot: str) -> str:
    letters = "".join(secrets.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return f"{lot}{letters}{secrets.randbelow(10**8):08d}"


def generate_device_secret() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, 32 characters


# Mosquitto's password-file format ($7$: PBKDF2-HMAC-SHA512), so the broker's password
# file is generated from these very hashes and the secret is never stored anywhere. The
# 101 iterations are Mosquitto's default: the secret is 192 random bits, so a slow hash
# would add nothing but cost to every request a gateway makes.
BROKER_HASH_ITERATIONS = 101


def hash_device_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, BROKER_HASH_ITERATIONS)
    encoded_salt, encoded_digest = (
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return f"$7${BROKER_HASH_ITERATIONS}${encoded_salt}${encoded_digest}"


def device_secret_matches(gateway: Gateway, secret: str) -> bool:
    parts = gateway.device_secret_hash.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def rotate_device_secret(*, gateway: Gateway) -> str:
    """A new device secret for ``gateway``; the old one stops working at once."""
    secret = generate_device_secret()
    Gateway.objects.filter(pk=gateway.pk).update(device_secret_hash=hash_device_secret(secret))
    return secret


def hash_gateway_password(password: str) -> str:
    return make_password(password, hasher="argon2")


@dataclass(frozen=True)
class ProvisionedGateway:
    gateway_id: str
    password: str
    model: str
    part_number: str
    device_secret: str = ""


def provision_gateways(
    *,
    count: int,
    model: str = DEFAULT_MODEL,
    part_number: str = "",
    lot: str | None = None,
    before_commit: Callable[[list[ProvisionedGateway]], None] | None = None,
) -> list[ProvisionedGateway]:
    """Create ``count`` unclaimed gateways with fresh passwords; the plaintexts are returned
    once, for the sheets, and never stored. ``before_commit`` runs inside the transaction
    (writing the sheet list: if it fails, no gateway is kept)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not MODEL_RE.match(model):
        raise ValueError(f"model {model!r}: use capital letters, digits and hyphens")
    if len(part_number) > PART_NUMBER_MAX:
        raise ValueError(f"part number {part_number!r}: at most {PART_NUMBER_MAX} characters")
    if has_control_chars(part_number):
        raise ValueError(f"part number {part_number!r}: control characters are not allowed")
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
                        )
                    break
                except IntegrityError:
                    continue  # an ID collision; draw again
            created.append(ProvisionedGateway(gateway_id, password, model, part_number, secret))
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
    existing = set(
        Gateway.objects.filter(gateway_id__in=[r.gateway_id for r in rows]).values_list(
            "gateway_id", flat=True
        )
    )
    for gateway_id in sorted(existing):
        problems.append(f"line {seen[gateway_id]}: gateway_id {gateway_id} already exists")
    if problems:
        raise GatewayListError(problems)
    return rows


def import_gateways(*, path: Path) -> int:
    rows = parse_gateway_csv(path)
    with transaction.atomic():
        Gateway.objects.bulk_create(
            Gateway(
                gateway_id=r.gateway_id,
                password_hash=hash_gateway_password(r.password),
                device_secret_hash=hash_device_secret(r.device_secret) if r.device_secret else "",
                model=r.model,
                part_number=r.part_number,
            )
            for r in rows
        )
    return len(rows)


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
    gateway = Gateway.objects.filter(gateway_id=gateway_id).first()
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
    gateway = Gateway.objects.filter(gateway_id=gateway_id).first()
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
        values.update(state=Gateway.State.CLAIMED, claimed_at=now)
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
        state=Gateway.State.CLAIMED, claimed_at=timezone.now()
    )


def release_held_gateways(*, owner: User) -> int:
    """Return a provisional registration's gateways to the unclaimed pool."""
    return Gateway.objects.filter(owner=owner, state=Gateway.State.HELD).update(
        state=Gateway.State.UNCLAIMED, owner=None, site=None, held_at=None
    )


def create_site(
    *, owner: User, name: str, postal_code: str, prefecture: str, city: str, address_rest: str
) -> Site:
    return Site.objects.create(
        owner=owner,
        name=name,
        postal_code=postal_code,
        prefecture=prefecture,
        city=city,
        address_rest=address_rest,
    )
