"""Which URLs an endpoint may have (server-side request forgery): refused at registration
and again at each delivery, where the address checked is the one connected to."""

from __future__ import annotations

import ipaddress

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from essmon.webhooks.models import Attempt, Delivery
from essmon.webhooks.services import (
    Holder,
    WebhookError,
    create_endpoint,
    deliver,
    send_test,
)
from essmon.webhooks.urlcheck import UrlRefused, check_url, is_public, resolve_public
from tests import factories
from tests.webhook_receiver import Receiver

PUBLIC = "93.184.215.14"


def public_dns(host: str, port: int) -> list[str]:
    return [PUBLIC]


def resolving_to(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


HOSTILE = [
    "http://hooks.example.com/",  # not HTTPS
    "ftp://hooks.example.com/",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "gopher://hooks.example.com/",
    "https://user:pass@hooks.example.com/",  # credentials
    "https://user@hooks.example.com/",
    "https://hooks.example.com@127.0.0.1/",
    "https://hooks.example.com/#fragment",
    "https:///no-host",
    "https://hooks.example.com:99999/",  # no such port
    "https://hooks.example.com/" + "a" * 2000,  # too long
    "https://hooks.example.com/\r\nX-Injected: 1",
    "https://127.0.0.1/",
    "https://127.1/",
    "https://2130706433/",  # 127.0.0.1 as a number
    "https://0.0.0.0/",
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://100.64.0.1/",  # shared address space
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    # IPv6 forms that carry an IPv4 address to reach: IPv4-compatible, NAT64 (the
    # well-known prefix and the local-use one), SIIT, 6to4
    "https://[::127.0.0.1]/",
    "https://[::10.0.0.1]/",
    "https://[64:ff9b::127.0.0.1]/",
    "https://[64:ff9b::10.0.0.1]/",
    "https://[64:ff9b::169.254.169.254]/",
    "https://[64:ff9b:1::a00:1]/",
    "https://[::ffff:0:127.0.0.1]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "https://hooks.example.com:0/",  # no port at all
    "https://a.b%00.c/",  # no resolver's name
    "https://hooks%2eexample.com/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused_with_a_reason(url):
    with pytest.raises(UrlRefused) as refused:
        resolve_public(url, resolve=public_dns)
    assert str(refused.value)  # a sentence for the form


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("10.0.0.5",),
        ("::1",),
        (PUBLIC, "192.168.0.10"),  # one private among public ones is enough to refuse
        ("169.254.169.254",),
        (),
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(addresses):
    with pytest.raises(UrlRefused):
        resolve_public("https://hooks.example.com/in", resolve=resolving_to(*addresses))


def test_a_public_https_url_is_taken_with_its_resolved_address():
    target = resolve_public("https://Hooks.Example.com:8443/in?x=1", resolve=public_dns)
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com",
        8443,
        "/in?x=1",
        PUBLIC,
    )


@given(st.text(max_size=300))
@settings(max_examples=400, deadline=None)
def test_the_url_check_refuses_or_accepts_any_text_without_crashing(text):
    try:
        parts, host, port = check_url(text)
    except UrlRefused:
        return
    assert parts.scheme == "https" and host and parts.username is None
    assert 0 < port < 65536 and len(text) <= 2000


@given(st.ip_addresses())
@settings(max_examples=300, deadline=None)
def test_an_address_in_the_url_is_taken_only_when_public(address):
    literal = f"[{address}]" if address.version == 6 else str(address)
    url = f"https://{literal}/hook"
    public = is_public(address)
    try:
        resolve_public(url, resolve=public_dns)
    except UrlRefused:
        assert not public
    else:
        assert public
        assert not (address.is_private or address.is_loopback or address.is_link_local)


@given(st.ip_addresses().filter(lambda a: not is_public(a)))
@settings(max_examples=200, deadline=None)
def test_a_name_resolving_to_any_non_public_address_is_refused(address):
    with pytest.raises(UrlRefused):
        resolve_public("https://hooks.example.com/", resolve=resolving_to(str(address)))


def test_ipv4_mapped_addresses_count_as_their_ipv4():
    assert not is_public(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert is_public(ipaddress.ip_address("::ffff:93.184.215.14"))


@pytest.mark.parametrize("prefix", ["::ffff:", "64:ff9b::", "::ffff:0:"])
def test_ipv6_forms_of_ipv4_count_as_their_ipv4(prefix):
    assert not is_public(ipaddress.ip_address(f"{prefix}10.0.0.1"))
    assert not is_public(ipaddress.ip_address(f"{prefix}127.0.0.1"))
    assert is_public(ipaddress.ip_address(f"{prefix}93.184.215.14"))
    assert is_public(ipaddress.ip_address("2002:5db8:d70e::1"))  # 6to4 of 93.184.215.14


# --- at registration and at delivery ----------------------------------------------------


@pytest.mark.django_db
def test_registration_refuses_what_the_check_refuses():
    owner = factories.customer()
    with pytest.raises(WebhookError) as refused:
        create_endpoint(
            holder=Holder(owner=owner),
            url="https://internal.example.com/",
            event_types=["alert.opened"],
            resolve=resolving_to("10.0.0.8"),
        )
    assert refused.value.field == "url"
    assert not owner.webhook_endpoints.exists()


@pytest.mark.django_db
def test_a_name_that_turns_private_after_registration_is_not_connected_to(
    settings, django_capture_on_commit_callbacks
):
    """DNS rebinding: public when registered, loopback at delivery: the attempt is stopped
    before any connection, and recorded with the reason."""
    receiver = Receiver().start()
    try:
        endpoint, _ = create_endpoint(
            holder=Holder(owner=factories.customer()),
            url=f"https://rebind.example.com:{receiver.port}/",
            event_types=["alert.opened"],
            resolve=public_dns,
        )
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            send_test(endpoint=endpoint)
        assert len(callbacks) == 1
        delivery = Delivery.objects.get()
        assert deliver(delivery_id=delivery.pk, resolve=resolving_to("127.0.0.1")) == "pending"
        attempt = Attempt.objects.get()
        assert attempt.status is None and "送信を止めました" in attempt.error
        assert receiver.arrivals == {}
    finally:
        receiver.stop()


@pytest.mark.django_db
def test_the_connection_goes_to_the_address_checked_with_the_name_as_host(settings):
    """The delivery connects to the address it resolved and checked, never resolving the
    name a second time: a name nothing else resolves still reaches the receiver."""
    settings.WEBHOOK_ALLOW_HOSTS = ["hooks.essmon-test"]
    receiver = Receiver().start()
    try:
        endpoint, secret = create_endpoint(
            holder=Holder(owner=factories.customer()),
            url=f"http://hooks.essmon-test:{receiver.port}/in?who=me",
            event_types=["alert.opened"],
            resolve=resolving_to("127.0.0.1"),
        )
        receiver.secrets["me"] = secret
        send_test(endpoint=endpoint)
        delivery = Delivery.objects.get()
        assert deliver(delivery_id=delivery.pk, resolve=resolving_to("127.0.0.1")) == "delivered"
        assert receiver.hosts == [f"hooks.essmon-test:{receiver.port}"]
        assert receiver.bad_signatures == 0 and len(receiver.processed) == 1
    finally:
        receiver.stop()


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_counts_as_a_failure(settings):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    hits: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    settings.WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint, _ = create_endpoint(
            holder=Holder(owner=factories.customer()),
            url=f"http://127.0.0.1:{server.server_address[1]}/in",
            event_types=["alert.opened"],
        )
        send_test(endpoint=endpoint)
        assert deliver(delivery_id=Delivery.objects.get().pk) == "pending"
        assert hits == ["/in"]
        assert Delivery.objects.get().last_status == 307
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_the_secret_rests_only_sealed():
    endpoint, secret = create_endpoint(
        holder=Holder(owner=factories.customer()),
        url="https://hooks.example.com/",
        event_types=["alert.opened"],
        resolve=public_dns,
    )
    assert secret.startswith("whsec_")
    assert secret not in endpoint.secret_sealed
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM webhooks_endpoint")
        assert secret not in repr(cursor.fetchall())
