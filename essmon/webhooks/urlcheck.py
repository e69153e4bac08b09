"""Which URLs an endpoint may have, and which address a delivery may connect to.

An endpoint's URL is typed by a user and fetched by the service, so it must not reach
what only the service can reach (server-side request forgery): loopback, private,
link-local, shared, reserved and multicast addresses are refused, when the endpoint is
registered and again at each delivery, where the address checked is the address
connected to (``resolve_public``), so a name that resolves differently the second time
(DNS rebinding) gains nothing. ``ESSMON_WEBHOOK_ALLOW_HOSTS`` names hosts exempt from
both rules, plain http included (tests, development)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from essmon.webhooks.models import MAX_URL_LENGTH

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class UrlRefused(ValueError):
    """Why a URL cannot be an endpoint's, in Japanese for the form (and the delivery log)."""


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL as registered, and the checked address to connect to."""

    url: str
    scheme: str
    host: str  # as the Host header and the TLS server name say it (IDNA, lower case)
    port: int
    path: str  # path and query
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def allowed_hosts() -> frozenset[str]:
    return frozenset(h.strip().lower() for h in settings.WEBHOOK_ALLOW_HOSTS if h.strip())


def _split(url: str) -> tuple[SplitResult, str, int]:
    if not isinstance(url, str) or not url:
        raise UrlRefused("URLを入力してください。")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"URLは{MAX_URL_LENGTH}文字以内で入力してください。")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UrlRefused("URLに空白や制御文字は使えません。")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        raise UrlRefused("URLの形式が正しくありません。") from exc
    if parts.scheme not in ("https", "http"):
        raise UrlRefused("https:// で始まるURLを入力してください。")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("ユーザ名やパスワードを含むURLは登録できません。")
    if parts.fragment or url.endswith("#"):
        raise UrlRefused("「#」以降(フラグメント)を含むURLは登録できません。")
    if not hostname:
        raise UrlRefused("URLにホスト名がありません。")
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UrlRefused("URLのホスト名が正しくありません。") from exc
    if _literal(host) is None and not re.fullmatch(r"[a-z0-9_.-]+", host):
        # "%", "!" and the like: no resolver's name, and a proxy or library on the way
        # might read them otherwise than this check does
        raise UrlRefused("URLのホスト名が正しくありません。")
    if port == 0:
        raise UrlRefused("URLのポート番号が正しくありません。")
    if parts.scheme == "http" and host not in allowed_hosts():
        raise UrlRefused("https:// で始まるURLを入力してください(http:// は使えません)。")
    default = 443 if parts.scheme == "https" else 80
    return parts, host, port if port is not None else default


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


# IPv6 addresses that reach an IPv4 address written in their last 32 bits, through a
# translator on the way (NAT64's well-known prefix, RFC 6052; SIIT's ::ffff:0:0:0/96)
TRANSLATED = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
# never an internet host: NAT64's local-use prefix (RFC 8215) and the deprecated
# IPv4-compatible addresses (::a.b.c.d), which some stacks still send to the IPv4 host
NEVER_PUBLIC = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96"))


def is_public(address: Address) -> bool:
    """Reachable on the internet: not loopback, private, link-local, shared (100.64/10),
    reserved, multicast or unspecified. An IPv6 address that carries an IPv4 address to
    reach (IPv4-mapped, NAT64, SIIT, 6to4) counts as that IPv4 address: Python calls
    64:ff9b::10.0.0.1 global, but a NAT64 gateway takes it to 10.0.0.1."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in NEVER_PUBLIC):
            return False
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif any(address in network for network in TRANSLATED):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not address.is_multicast


def check_url(url: str) -> tuple[SplitResult, str, int]:
    """The URL's form alone (no name resolved): UrlRefused with the reason, else its parts."""
    parts, host, port = _split(url)
    literal = _literal(host)
    last_label = host.rstrip(".").rsplit(".", 1)[-1]
    if literal is None and re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", last_label):
        # 127.1, 2130706433, 0x7f.1: addresses in forms resolvers read but people don't
        # (no top-level domain is numeric), which would slip past the literal check
        raise UrlRefused("IPアドレスは 203.0.113.10 のような通常の表記で入力してください。")
    if literal is not None and not is_public(literal) and host not in allowed_hosts():
        raise UrlRefused("社内ネットワークやこのサーバ自身のアドレスには送信できません。")
    return parts, host, port


def resolve_public(url: str, *, resolve: Resolver = system_resolver) -> Target:
    """The address to connect to for ``url``: every address the name resolves to must be
    public (a name with one private address among public ones is refused: which one a
    client picks is not ours to know), and the first one is used."""
    parts, host, port = check_url(url)
    literal = _literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(dict.fromkeys(resolve(host, port)))
        except (OSError, UnicodeError) as exc:
            raise UrlRefused("URLのホスト名を名前解決できませんでした。") from exc
        if not addresses:
            raise UrlRefused("URLのホスト名を名前解決できませんでした。")
    if host not in allowed_hosts():
        for text in addresses:
            address = _literal(text.split("%", 1)[0])
            if address is None or not is_public(address):
                raise UrlRefused("社内ネットワークやこのサーバ自身のアドレスには送信できません。")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        url=url, scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0]
    )
