"""Gateways' X.509 client certificates: essmon's small CA, the certificates it issues
(CN = gateway ID, which the broker takes as the user name, so the per-user ACL applies
unchanged), their revocation and the CRL the broker reads (docs/deployment.md,
"Certificates instead of passwords").

The CA's key stays in its folder (mode 600); a gateway's key is written once, to a file for
the factory, and kept nowhere else: the database records only the certificate's serial,
validity and revocation (``GatewayCertificate``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.gateways.identifiers import GATEWAY_ID_RE
from essmon.gateways.models import Gateway
from essmon.mqtt.models import GatewayCertificate

logger = logging.getLogger(__name__)

CA_DAYS = 20 * 365  # longer than any gateway's certificate it signs (ESSMON_GATEWAY_CERT_DAYS)
# The broker refuses every client once the CRL's nextUpdate has passed (OpenSSL's
# CRL_HAS_EXPIRED), so the minute's sync rewrites it when half of this is left.
CRL_DAYS = 7
# a certificate may be used from a little before it was issued: the gateway's clock may lag
CLOCK_SKEW = dt.timedelta(minutes=10)

REASON_FLAGS: dict[str, x509.ReasonFlags] = {
    GatewayCertificate.Reason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    GatewayCertificate.Reason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    GatewayCertificate.Reason.REPLACED: x509.ReasonFlags.superseded,
    GatewayCertificate.Reason.RETIRED: x509.ReasonFlags.cessation_of_operation,
}


class CertificateError(ValueError):
    """Refused, with the reason for the operator (the commands print it)."""


@dataclass(frozen=True)
class CAFiles:
    key: Path
    certificate: Path
    crl: Path

    @classmethod
    def from_settings(cls) -> CAFiles:
        folder = Path(settings.GATEWAY_CA_DIR)
        crl = Path(settings.MQTT_CRL_FILE) if settings.MQTT_CRL_FILE else folder / "crl.pem"
        return cls(key=folder / "ca-key.pem", certificate=folder / "ca.pem", crl=crl)

    def exists(self) -> bool:
        return self.key.exists() and self.certificate.exists()


@dataclass(frozen=True)
class IssuedCertificate:
    gateway_id: str
    serial: str
    key_file: Path
    certificate_file: Path
    not_after: dt.datetime


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """A new file, with its final mode from the start (it may hold a private key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, mode)  # not narrowed by the umask: a certificate or CRL is for others to read
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _replace(path: Path, data: bytes, mode: int) -> None:
    # write-and-rename: the broker never reads a half-written CRL
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data, mode)
    os.replace(tmp, path)


def init_ca(*, files: CAFiles | None = None, name: str = "essmon gateway CA") -> CAFiles:
    """Make the CA's key and self-signed certificate, and an empty CRL. Refuses to overwrite
    an existing CA: every certificate it signed would stop working."""
    files = files or CAFiles.from_settings()
    if files.key.exists() or files.certificate.exists():
        raise CertificateError(f"{files.key.parent} にはすでにCAがあります(上書きしません)。")
    files.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = timezone.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_new(files.key, _key_pem(key), 0o600)
    _write_new(files.certificate, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    write_crl(files=files, force=True)
    return files


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """The CA signs certificates and CRLs only; a gateway's key signs its TLS handshakes only."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(files: CAFiles) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if not files.exists():
        raise CertificateError(
            f"CAがありません({files.key.parent}): 先に essmon gateway-ca init を実行してください。"
        )
    try:
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    except (ValueError, TypeError) as exc:  # not PEM, or a key with a passphrase
        raise CertificateError(f"{files.key.parent}: CAの鍵または証明書を読めません。") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{files.key}: essmon のCAの鍵(EC)ではありません。")
    return key, certificate


def issue_certificates(
    *,
    gateway_ids: Iterable[str],
    out_dir: Path,
    days: int | None = None,
    files: CAFiles | None = None,
) -> list[IssuedCertificate]:
    """A new key and certificate for each gateway, written to ``out_dir`` as
    ``<gateway ID>.key`` (mode 600) and ``<gateway ID>.pem``. The gateway's earlier
    certificates stay valid (a unit in the field keeps working until its new one is
    installed); revoke them with ``revoke_certificates``."""
    files = files or CAFiles.from_settings()
    days = days if days is not None else settings.GATEWAY_CERT_DAYS
    if not 1 <= days <= CA_DAYS:
        raise CertificateError(f"有効日数は1〜{CA_DAYS}日で指定してください。")
    ids = list(dict.fromkeys(gateway_ids))
    if not ids:
        raise CertificateError("ゲートウェイIDを指定してください。")
    malformed = [gateway_id for gateway_id in ids if not GATEWAY_ID_RE.match(gateway_id)]
    if malformed:
        raise CertificateError(f"ゲートウェイIDの形式ではありません: {malformed[0][:40]!r}")
    known = set(Gateway.objects.filter(gateway_id__in=ids).values_list("gateway_id", flat=True))
    unknown = [gateway_id for gateway_id in ids if gateway_id not in known]
    if unknown:
        raise CertificateError(f"登録されていないゲートウェイです: {', '.join(unknown[:5])}")
    ca_key, ca_certificate = _load_ca(files)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = [p for i in ids for p in (out_dir / f"{i}.key", out_dir / f"{i}.pem") if p.exists()]
    if taken:
        raise CertificateError(f"{taken[0]} がすでにあります(上書きしません)。")
    now = timezone.now()
    not_after = min(now + dt.timedelta(days=days), ca_certificate.not_valid_after_utc)
    issued: list[IssuedCertificate] = []
    written: list[Path] = []
    try:
        with transaction.atomic():
            for gateway_id in ids:
                key = ec.generate_private_key(ec.SECP256R1())
                certificate = _gateway_certificate(
                    gateway_id, key, ca_key, ca_certificate, now=now, not_after=not_after
                )
                serial = format(certificate.serial_number, "x")
                GatewayCertificate.objects.create(
                    serial=serial,
                    gateway_id=gateway_id,
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                    fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
                )
                key_file, certificate_file = (
                    out_dir / f"{gateway_id}.key",
                    out_dir / f"{gateway_id}.pem",
                )
                _write_new(key_file, _key_pem(key), 0o600)
                written.append(key_file)
                _write_new(
                    certificate_file, certificate.public_bytes(serialization.Encoding.PEM), 0o644
                )
                written.append(certificate_file)
                issued.append(
                    IssuedCertificate(
                        gateway_id,
                        serial,
                        key_file,
                        certificate_file,
                        certificate.not_valid_after_utc,
                    )
                )
    except BaseException:
        # nothing recorded, so no key of the run is left behind either
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return issued


def _gateway_certificate(
    gateway_id: str,
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    *,
    now: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gateway_id)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def revoke_certificates(
    *,
    reason: str,
    gateway_ids: Iterable[str] = (),
    serials: Iterable[str] = (),
) -> int:
    """Revoke the gateways' valid certificates, or the ones named by serial. The caller
    then rewrites the CRL and signals the broker (broker.sync_broker_credentials), after
    the commit."""
    if reason not in GatewayCertificate.Reason.values:
        raise CertificateError(
            f"理由は {', '.join(GatewayCertificate.Reason.values)} のどれかです。"
        )
    wanted = GatewayCertificate.objects.filter(revoked_at__isnull=True)
    by_gateway, by_serial = list(gateway_ids), [s.lower().lstrip("0") for s in serials]
    revoked = 0
    if by_gateway:
        revoked += wanted.filter(gateway_id__in=by_gateway).update(
            revoked_at=timezone.now(), reason=reason
        )
    if by_serial:
        revoked += wanted.filter(serial__in=by_serial).update(
            revoked_at=timezone.now(), reason=reason
        )
    return revoked


def revoke_unregistered() -> int:
    """Certificates of gateway IDs no longer in the registry (a unit taken out, or the old
    ID of a 故障交換 whose receiver did not run) are revoked as retired."""
    orphans = GatewayCertificate.objects.filter(revoked_at__isnull=True).exclude(
        gateway_id__in=Gateway.objects.values("gateway_id")
    )
    return orphans.update(revoked_at=timezone.now(), reason=GatewayCertificate.Reason.RETIRED)


def crl_bytes(*, files: CAFiles | None = None) -> bytes:
    """The CRL of every revoked certificate not yet expired (an expired one fails anyway)."""
    files = files or CAFiles.from_settings()
    ca_key, ca_certificate = _load_ca(files)
    now = timezone.now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=CRL_DAYS))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    revoked = GatewayCertificate.objects.filter(revoked_at__isnull=False, not_after__gt=now)
    for row in revoked.order_by("revoked_at", "serial").iterator(chunk_size=5000):
        assert row.revoked_at is not None
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(row.revoked_at)
            .add_extension(x509.CRLReason(REASON_FLAGS[row.reason]), critical=False)
            .build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _crl_is_current(files: CAFiles) -> bool:
    """The file lists exactly the revoked certificates and has more than half its life left."""
    try:
        current = x509.load_pem_x509_crl(files.crl.read_bytes())
    except (OSError, ValueError):
        return False
    next_update = current.next_update_utc
    if next_update is None or next_update - timezone.now() < dt.timedelta(days=CRL_DAYS / 2):
        return False
    listed = {format(entry.serial_number, "x") for entry in current}
    wanted = set(
        GatewayCertificate.objects.filter(
            revoked_at__isnull=False, not_after__gt=timezone.now()
        ).values_list("serial", flat=True)
    )
    return listed == wanted


def write_crl(*, files: CAFiles | None = None, force: bool = False) -> bool:
    """Rewrite the CRL when it is missing, out of date or near its nextUpdate; True if it
    was written. A no-op (False) without a CA."""
    files = files or CAFiles.from_settings()
    if not files.exists() or (not force and _crl_is_current(files)):
        return False
    files.crl.parent.mkdir(parents=True, exist_ok=True)
    # the broker (another user, in the group as with the password file) reads it; it holds
    # only serials
    _replace(files.crl, crl_bytes(files=files), 0o640)
    return True


def sync_certificates() -> bool:
    """The minute's part for certificates: retired gateways' certificates revoked and the
    CRL kept current. True when the CRL was rewritten (the broker must reload it)."""
    if not CAFiles.from_settings().exists():
        return False
    revoke_unregistered()
    return write_crl()
