"""Gateways' X.509 client certificates (essmon/mqtt/certificates.py): the CA, issuing,
revoking and the CRL, and a real Mosquitto in TLS mode set up as docs/deployment.md says
(require_certificate, use_identity_as_username, crlfile)."""

import datetime as dt
import json
import ssl
import threading
import time
from io import StringIO
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.mqtt import certificates
from essmon.mqtt.broker import sync_broker_credentials
from essmon.mqtt.certificates import CAFiles
from essmon.mqtt.models import GatewayCertificate
from essmon.simulator.fleet import FleetConfig, run_fleet
from essmon.simulator.transports import GatewayCredentials, MqttTransport
from essmon.telemetry.models import Sample
from tests import factories
from tests.dealers.test_replacement import (
    replace,
    world,  # noqa: F401  (a fixture)
)
from tests.mosquitto import Mosquitto
from tests.mqtt_helpers import SamplePublisher, WorkerThread, client, connect
from tests.simulation import run_async
from tests.waiting import wait_until

NOT_AUTHORIZED = 0x87


@pytest.fixture
def ca(tmp_path):
    with override_settings(
        GATEWAY_CA_DIR=tmp_path / "ca",
        MQTT_CRL_FILE="",
        MQTT_PASSWORD_FILE="",
        MQTT_BROKER_PID_FILE="",
    ):
        yield certificates.init_ca()


def crl_serials(files: CAFiles) -> dict[str, x509.ReasonFlags]:
    crl = x509.load_pem_x509_crl(files.crl.read_bytes())
    ca_key = x509.load_pem_x509_certificate(files.certificate.read_bytes()).public_key()
    assert crl.is_signature_valid(ca_key)  # type: ignore[arg-type]
    return {
        format(entry.serial_number, "x"): entry.extensions.get_extension_for_class(
            x509.CRLReason
        ).value.reason
        for entry in crl
    }


# --- the CA, issuing, revoking ---------------------------------------------------------


@pytest.mark.django_db
def test_issued_certificates_name_the_gateway_and_their_keys_are_only_in_the_factorys_file(
    ca, tmp_path
):
    a, b = factories.gateway(), factories.gateway()
    out = StringIO()
    call_command(
        "gateway-certs", "issue", a.gateway_id, b.gateway_id, "--out", tmp_path / "o", stdout=out
    )
    assert "PRIVATE KEY" not in out.getvalue()
    ca_certificate = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    for gw in (a, b):
        key_file, cert_file = (
            tmp_path / "o" / f"{gw.gateway_id}.key",
            tmp_path / "o" / f"{gw.gateway_id}.pem",
        )
        assert key_file.stat().st_mode & 0o777 == 0o600
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        certificate.verify_directly_issued_by(ca_certificate)
        cn = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == gw.gateway_id
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert key.public_key() == certificate.public_key()
        row = GatewayCertificate.objects.get(gateway_id=gw.gateway_id)
        assert row.serial == format(certificate.serial_number, "x")
        assert row.not_after == certificate.not_valid_after_utc
        # the default validity, ESSMON_GATEWAY_CERT_DAYS
        assert abs((row.not_after - timezone.now()) - dt.timedelta(days=3650)) < dt.timedelta(
            minutes=1
        )
        # the database holds nothing of the key
        key_der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        stored = " ".join(str(value) for value in GatewayCertificate.objects.values_list())
        assert key_der.hex() not in stored and "PRIVATE" not in stored
    assert ca.key.stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_a_batch_is_issued_at_once_and_nothing_is_overwritten(ca, tmp_path):
    from essmon.gateways.services.provisioning import provision_gateways

    made = provision_gateways(count=3)
    call_command(
        "gateway-certs",
        "issue",
        "--batch",
        str(made[0].batch_id),
        "--out",
        tmp_path / "o",
        "--days",
        "30",
        stdout=StringIO(),
    )
    rows = GatewayCertificate.objects.order_by("gateway_id")
    assert [row.gateway_id for row in rows] == sorted(gw.gateway_id for gw in made)
    assert all(row.not_after - row.issued_at < dt.timedelta(days=30, minutes=1) for row in rows)
    # again into the same folder: refused, nothing new recorded and the keys untouched
    before = (tmp_path / "o" / f"{made[0].gateway_id}.key").read_bytes()
    with pytest.raises(CommandError, match="すでにあります"):
        call_command("gateway-certs", "issue", made[0].gateway_id, "--out", tmp_path / "o")
    assert GatewayCertificate.objects.count() == 3
    assert (tmp_path / "o" / f"{made[0].gateway_id}.key").read_bytes() == before
    with pytest.raises(CommandError, match="登録されていない"):
        call_command("gateway-certs", "issue", "26AB00000000", "--out", tmp_path / "p")
    with pytest.raises(CommandError, match="形式"):
        call_command("gateway-certs", "issue", "../etc/passwd", "--out", tmp_path / "p")
    with pytest.raises(CommandError, match="すでにCA"):
        call_command("gateway-ca", "init")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(CommandError, match="a-file"):
        call_command("gateway-certs", "issue", made[0].gateway_id, "--out", tmp_path / "a-file")
    ca.key.write_text("not a key")
    with pytest.raises(CommandError, match="CAの鍵または証明書を読めません"):
        call_command("gateway-certs", "issue", made[0].gateway_id, "--out", tmp_path / "q")


@pytest.mark.django_db
def test_revoking_rewrites_the_crl_with_the_reason(ca, tmp_path):
    a, b = factories.gateway(), factories.gateway()
    issued = certificates.issue_certificates(
        gateway_ids=[a.gateway_id, b.gateway_id], out_dir=tmp_path / "o"
    )
    assert crl_serials(ca) == {}
    call_command(
        "gateway-certs", "revoke", a.gateway_id, "--reason", "key_compromise", stdout=StringIO()
    )
    assert crl_serials(ca) == {issued[0].serial: x509.ReasonFlags.key_compromise}
    row = GatewayCertificate.objects.get(serial=issued[0].serial)
    assert row.revoked_at is not None and row.reason == "key_compromise"
    # a gateway taken out of the registry: the minute's sync revokes its certificate as retired
    Gateway.objects.filter(pk=b.pk).delete()
    assert sync_broker_credentials()
    assert crl_serials(ca)[issued[1].serial] == x509.ReasonFlags.cessation_of_operation
    assert not sync_broker_credentials()  # nothing changed: the CRL is left alone


@pytest.mark.django_db
def test_the_operator_sees_the_certificates_and_cannot_change_them(ca, tmp_path, client):
    from django.urls import reverse

    gw = factories.gateway()
    issued = certificates.issue_certificates(gateway_ids=[gw.gateway_id], out_dir=tmp_path / "o")
    certificates.revoke_certificates(gateway_ids=[gw.gateway_id], reason="key_compromise")
    client.force_login(factories.admin_operator())
    changelist = client.get(reverse("admin:mqtt_gatewaycertificate_changelist"))
    html = changelist.content.decode()
    assert changelist.status_code == 200
    assert gw.gateway_id in html and issued[0].serial in html and "鍵の漏えい" in html
    row = GatewayCertificate.objects.get()
    assert client.get(reverse("admin:mqtt_gatewaycertificate_add")).status_code == 403
    detail = client.get(reverse("admin:mqtt_gatewaycertificate_change", args=[row.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    changed = client.post(
        reverse("admin:mqtt_gatewaycertificate_change", args=[row.pk]), {"reason": ""}
    )
    assert changed.status_code == 403
    deleted = client.post(reverse("admin:mqtt_gatewaycertificate_delete", args=[row.pk]))
    assert deleted.status_code == 403
    assert GatewayCertificate.objects.get(pk=row.pk).reason == "key_compromise"


@pytest.mark.django_db
def test_the_crl_is_rewritten_before_its_next_update(ca):
    first = x509.load_pem_x509_crl(ca.crl.read_bytes())
    assert not certificates.sync_certificates()
    later = timezone.now() + dt.timedelta(days=certificates.CRL_DAYS / 2 + 0.1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        assert certificates.sync_certificates()
    again = x509.load_pem_x509_crl(ca.crl.read_bytes())
    assert again.next_update_utc > first.next_update_utc


@pytest.mark.django_db(transaction=True)
def test_a_replaced_gateways_certificate_is_revoked(ca, tmp_path, world):  # noqa: F811  (the fixture)
    old_id = world["old"].gateway_id
    issued = certificates.issue_certificates(gateway_ids=[old_id], out_dir=tmp_path / "o")
    replace(world)
    assert crl_serials(ca) == {issued[0].serial: x509.ReasonFlags.superseded}
    assert GatewayCertificate.objects.get().reason == GatewayCertificate.Reason.REPLACED


# --- against a real Mosquitto in TLS mode ------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def other_ca(folder: Path) -> dict[str, Path]:
    """A second CA: the broker's own certificate (as a public CA's would be), and a client
    certificate naming a gateway that essmon did not issue."""
    folder.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("test server CA"))
        .issuer_name(_name("test server CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "server-ca.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, cn: str, san: x509.SubjectAlternativeName | None) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        paths[f"{stem}.pem"] = folder / f"{stem}.pem"
        paths[f"{stem}.key"] = folder / f"{stem}.key"
        paths[f"{stem}.pem"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{stem}.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    import ipaddress

    leaf(
        "server",
        "localhost",
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
    )
    leaf("stranger", "unused", None)
    return paths


def tls_client(
    server_ca: Path, cert: Path | None, key: Path | None, *, username: str | None = None
) -> mqtt.Client:
    """A gateway on the certificate listener: no password (the broker takes the user name
    from the certificate, whatever ``username`` says)."""
    made = client(None, username or "", "", client_id=f"c-{time.monotonic_ns()}")
    made.username_pw_set(username)
    context = ssl.create_default_context(cafile=str(server_ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    made.tls_set_context(context)
    return made


def tls_connack(port: int, server_ca: Path, cert: Path | None, key: Path | None):
    """The broker's CONNACK to a client with this certificate (None: the TLS handshake or
    the connection failed before any CONNACK)."""
    made = tls_client(server_ca, cert, key)
    made.reconnect_delay_set(min_delay=60, max_delay=60)
    answered, answer = threading.Event(), []
    made.on_connect = lambda c, u, f, rc, p: (answer.append(rc), answered.set())
    made.on_disconnect = lambda c, u, f, rc, p: answered.set()
    try:
        made.connect("127.0.0.1", port)
    except (ssl.SSLError, OSError):
        return None
    made.loop_start()
    answered.wait(5)
    made.disconnect()
    made.loop_stop()
    return answer[0] if answer else None


@pytest.mark.django_db(transaction=True)
def test_gateways_with_certificates_against_mosquitto_in_tls_mode(tmp_path):
    folder = tmp_path / "mosquitto"
    with override_settings(
        GATEWAY_CA_DIR=tmp_path / "ca",
        MQTT_CRL_FILE="",
        MQTT_PASSWORD_FILE="",
        MQTT_BROKER_PID_FILE=str(folder / "mosquitto.pid"),
    ):
        files = certificates.init_ca()
        a, b = factories.connected_gateway(), factories.connected_gateway()
        out = tmp_path / "factory"
        certificates.issue_certificates(gateway_ids=[a.gateway_id, b.gateway_id], out_dir=out)
        cert_a, key_a = out / f"{a.gateway_id}.pem", out / f"{a.gateway_id}.key"
        cert_b, key_b = out / f"{b.gateway_id}.pem", out / f"{b.gateway_id}.key"
        other = other_ca(tmp_path / "other")
        broker = Mosquitto(
            folder,
            certificates={
                "cafile": files.certificate,
                "crlfile": files.crl,
                "certfile": other["server.pem"],
                "keyfile": other["server.key"],
            },
        )
        broker.start()
        try:
            _exercise(broker, files, other, a, b, (cert_a, key_a), (cert_b, key_b))
        finally:
            broker.stop()


def _exercise(broker, files, other, a, b, pair_a, pair_b) -> None:
    port, server_ca = broker.tls_port, other["ca"]
    # A, with its certificate and no password, is accepted; its samples are stored end to
    # end through the ingest worker (on the service's listener)
    with WorkerThread(broker):
        # it claims B's user name: the certificate's CN decides
        gw_a = tls_client(server_ca, *pair_a, username=b.gateway_id)
        connect(gw_a, broker, persistent=False, port=port)
        publisher = SamplePublisher(gw_a, a)
        publisher.publish(range(1, 21))
        publisher.finish(range(1, 21), timeout=30)
        wait_until(lambda: Sample.objects.filter(gateway=a).count() == 20, 15, "A's samples stored")
        # A cannot publish as B: the per-user ACL refuses with "not authorized"
        refused: list = []
        gw_a.on_publish = lambda c, u, mid, rc, p: refused.append(rc.value)
        body = json.dumps({"gateway_id": b.gateway_id, "samples": []})
        for kind in ("telemetry", "status", "events", "results"):
            gw_a.publish(f"essmon/v1/{b.gateway_id}/{kind}", body, qos=1)
        wait_until(lambda: len(refused) == 4, 5, "the broker's answers to A's publishing as B")
        assert refused == [NOT_AUTHORIZED] * 4
        gw_a.disconnect()
        gw_a.loop_stop()
    assert Sample.objects.filter(gateway=b).count() == 0
    # the simulator as a vendor would run it: B's certificate from the factory's folder
    start = (timezone.localtime() - dt.timedelta(days=1)).replace(second=0, microsecond=0)
    config = FleetConfig(start=start, interval=60, duration=600, speed=1800, drain_timeout=15)
    transport = MqttTransport(f"mqtts://127.0.0.1:{port}", certs=pair_b[0].parent, ca=server_ca)
    fleet = [GatewayCredentials(b.gateway_id, b.model, "not-the-device-secret-at-all")]
    with WorkerThread(broker):
        stats = run_async(run_fleet(config, fleet, transport))
        assert stats.buffered == 0 and stats.generated == 10
        wait_until(lambda: Sample.objects.filter(gateway=b).count() == 10, 10, "B's samples")
    # no certificate, another CA's certificate: refused in the TLS handshake
    assert tls_connack(port, server_ca, None, None) is None
    assert tls_connack(port, server_ca, other["stranger.pem"], other["stranger.key"]) is None
    # the password method is no way in on this listener either
    with_password = client(None, a.gateway_id, a.secret, client_id=a.gateway_id)
    with_password.tls_set_context(ssl.create_default_context(cafile=str(server_ca)))
    with pytest.raises((ssl.SSLError, OSError)):
        with_password.connect("127.0.0.1", port)
        with_password.loop_start()
        assert not with_password.connected_event.wait(3)
        raise OSError("not connected")
    with_password.loop_stop()
    assert tls_connack(port, server_ca, *pair_a).is_failure is False
    held = tls_client(server_ca, *pair_a)
    connect(held, broker, persistent=False, port=port)
    # A revoked: the CRL is rewritten and the broker signalled (the revoke command's path)
    before = broker.log().count("Reloading config.")
    failed = broker.log().count("certificate verify failed")
    call_command(
        "gateway-certs", "revoke", a.gateway_id, "--reason", "key_compromise", stdout=StringIO()
    )
    wait_until(lambda: broker.log().count("Reloading config.") > before, 10, "Mosquitto reloading")
    assert tls_connack(port, server_ca, *pair_a) is None
    assert tls_connack(port, server_ca, *pair_b).is_failure is False
    # refused by the certificate check, which the same certificate passed before the CRL
    assert broker.log().count("certificate verify failed") == failed + 1
    # a connection made before the revocation stays: the check is in the handshake only
    # (docs/deployment.md says so, and that a broker restart cuts it off)
    time.sleep(1)
    assert held.connected_event.is_set()
    held.disconnect()
    held.loop_stop()


def test_the_simulator_refuses_certificates_it_cannot_use(tmp_path, capsys):
    from essmon.simulator.cli import main

    csv = tmp_path / "gateways.csv"
    csv.write_text(
        "gateway_id,password,model,part_number,device_secret\n"
        "26AB00000001,abcdefghijk12,KP-GWBT-A,,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
    )
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "26AB00000001.pem").write_text("")  # its key is missing
    for url, says in (
        ("mqtts://127.0.0.1:1", "no <ID>.pem and <ID>.key for 26AB00000001"),
        ("mqtt://127.0.0.1:1", "client certificates need TLS"),
    ):
        with pytest.raises(SystemExit):
            main(["--csv", str(csv), "--mqtt", url, "--certs", str(tmp_path / "certs")])
        assert says in capsys.readouterr().err
