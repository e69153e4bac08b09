"""How a simulated gateway reaches essmon: HTTPS (one shared, bounded connection pool for
the whole fleet) or MQTT (one broker connection per gateway, as real units have).

Both speak only the public protocol (docs/gateway-protocol.md). A failure that may pass
(network, timeout, 5xx) and a refusal (4xx) both raise ``TransportError``; the gateway
keeps what it tried to send either way and tries again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("essmon.simulator")
NO_MATCHING_SUBSCRIBERS = 0x10
_published_mid: contextvars.ContextVar[int] = contextvars.ContextVar("published_mid", default=-1)


@dataclass(frozen=True)
class GatewayCredentials:
    gateway_id: str
    model: str
    device_secret: str


@dataclass
class Answer:
    """What essmon made of a list message (samples, events or results)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


class TransportError(Exception):
    """A message did not get through. ``permanent`` marks a refusal that a resend will not
    cure (wrong secret, malformed body); the caller still keeps the data."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class CommandsUnsupported(TransportError):
    """The server has no commands endpoint yet (404)."""


class Session:
    """One gateway's link to essmon."""

    credentials: GatewayCredentials
    # whether fetching commands is a round trip (HTTPS poll) or reads what arrived (MQTT)
    polls_network = True

    async def connect(self) -> None:
        """Make the link usable (MQTT connects; HTTPS has nothing to do)."""

    async def drop(self) -> None:
        """The network goes away: end the link the way a cut cable would."""

    async def close(self) -> None:
        """The gateway shuts down cleanly."""

    async def send_samples(self, samples: list[dict]) -> Answer:
        raise NotImplementedError

    async def send_events(self, events: list[dict]) -> Answer:
        raise NotImplementedError

    async def send_results(self, results: list[dict]) -> Answer:
        raise NotImplementedError

    async def send_status(self, status: dict) -> None:
        raise NotImplementedError

    async def fetch_commands(self) -> list[dict]:
        raise NotImplementedError


class Transport:
    name = "none"

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def session(self, credentials: GatewayCredentials) -> Session:
        raise NotImplementedError


# --- HTTPS ---------------------------------------------------------------------------


def _answer(body: Any) -> Answer:
    if not isinstance(body, dict):
        raise TransportError("answer is not a JSON object")
    rejected = []
    for item in body.get("rejected") or []:
        if isinstance(item, dict) and isinstance(item.get("index"), int):
            rejected.append((item["index"], str(item.get("reason", ""))))
    return Answer(int(body.get("accepted", 0)), int(body.get("duplicates", 0)), rejected)


class HttpsTransport(Transport):
    """All gateways share one ``httpx.AsyncClient``: a thousand units polling through a
    thousand sockets would measure the simulator's file descriptors, not the service."""

    name = "https"

    def __init__(
        self,
        base_url: str,
        *,
        connections: int = 32,
        timeout: float = 30.0,
        verify: bool = True,
        client: Any = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self.timeout = timeout
        self.verify = verify
        self.client = client
        self._own_client = client is None
        self.commands_supported = True
        self.slots: asyncio.Semaphore | None = None

    async def open(self) -> None:
        # Requests queue here, not in httpx's pool: asyncio's semaphore hands out slots in
        # arrival order at constant cost, while the pool rescans every waiting request on
        # each release, which with a thousand gateways waiting ate most of the CPU.
        self.slots = asyncio.Semaphore(self.connections)
        if self.client is None:
            import httpx

            self.client = httpx.AsyncClient(
                base_url=self.base_url,
                limits=httpx.Limits(
                    max_connections=self.connections, max_keepalive_connections=self.connections
                ),
                # No pool timeout: waiting for a free connection is the back-pressure that
                # makes a gateway send larger batches when the service is slow.
                timeout=httpx.Timeout(self.timeout, pool=None),
                verify=self.verify,
                headers={"User-Agent": "essmon-simulator"},
            )

    async def close(self) -> None:
        if self.client is not None and self._own_client:
            await self.client.aclose()
            self.client = None

    def session(self, credentials: GatewayCredentials) -> Session:
        return HttpsSession(self, credentials)


class HttpsSession(Session):
    def __init__(self, transport: HttpsTransport, credentials: GatewayCredentials) -> None:
        self.transport = transport
        self.credentials = credentials
        self.headers = {
            "Authorization": f"Gateway {credentials.gateway_id}:{credentials.device_secret}",
            "Content-Type": "application/json",
        }

    async def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        import httpx

        client = self.transport.client
        if client is None:
            raise TransportError("transport is closed")
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self.transport.slots or contextlib.nullcontext():
                response = await client.request(method, path, content=content, headers=self.headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if response.status_code == 404 and path.startswith("/api/v1/commands"):
            raise CommandsUnsupported("404 from /api/v1/commands", permanent=True)
        if response.status_code != 200:
            try:
                reason = response.json().get("error", "")
            except (ValueError, AttributeError):
                reason = response.text[:200]
            raise TransportError(
                f"HTTP {response.status_code} from {path}: {reason}",
                permanent=400 <= response.status_code < 500 and response.status_code != 429,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise TransportError(f"answer from {path} is not JSON") from exc

    def _envelope(self, **fields: Any) -> dict:
        return {"gateway_id": self.credentials.gateway_id, **fields}

    async def send_samples(self, samples: list[dict]) -> Answer:
        return _answer(
            await self._request("POST", "/api/v1/telemetry", self._envelope(samples=samples))
        )

    async def send_events(self, events: list[dict]) -> Answer:
        return _answer(await self._request("POST", "/api/v1/events", self._envelope(events=events)))

    async def send_results(self, results: list[dict]) -> Answer:
        return _answer(
            await self._request("POST", "/api/v1/results", self._envelope(results=results))
        )

    async def send_status(self, status: dict) -> None:
        await self._request("POST", "/api/v1/status", self._envelope(status=status))

    async def fetch_commands(self) -> list[dict]:
        if not self.transport.commands_supported:
            return []
        try:
            # wait=0: a long poll per gateway would pin a server thread each
            body = await self._request("GET", "/api/v1/commands?wait=0")
        except CommandsUnsupported:
            if self.transport.commands_supported:
                self.transport.commands_supported = False
                logger.warning("the server has no /api/v1/commands (404): command polling is off")
            return []
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list):
            raise TransportError("commands answer has no list 'commands'")
        return commands


# --- MQTT ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


class MqttTransport(Transport):
    """One MQTT 5 client per gateway (client ID = user name = gateway ID, password = device
    secret), persistent session so commands wait at the broker while a unit is away."""

    name = "mqtt"
    SESSION_EXPIRY_S = 86400

    def __init__(
        self,
        url: str,
        *,
        verify: bool = True,
        timeout: float = 30.0,
        certs: Path | None = None,
        ca: Path | None = None,
    ) -> None:
        """``certs``: a folder of client certificates, ``<gateway_id>.pem`` and
        ``<gateway_id>.key`` each (protocol, section 4.1), sent instead of the device
        secret; ``ca``: the CA file to verify the broker with instead of the system's."""
        self.address = BrokerAddress.parse(url)
        if certs is not None and not self.address.tls:
            raise ValueError("client certificates need TLS: mqtts://host:port")
        self.verify = verify
        self.timeout = timeout
        self.certs = certs
        self.ca = ca
        self.tls_context: ssl.SSLContext | None = None
        self.commands_supported = True

    async def open(self) -> None:
        if self.address.tls:
            self.tls_context = self._context()

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def client_context(self, gateway_id: str) -> ssl.SSLContext | None:
        """The gateway's own TLS context when it has a certificate, else the shared one."""
        if self.certs is None:
            return self.tls_context
        context = self._context()
        context.load_cert_chain(self.certs / f"{gateway_id}.pem", self.certs / f"{gateway_id}.key")
        return context

    def session(self, credentials: GatewayCredentials) -> Session:
        return MqttSession(self, credentials)


class MqttSession(Session):
    polls_network = False

    def __init__(self, transport: MqttTransport, credentials: GatewayCredentials) -> None:
        self.transport = transport
        self.credentials = credentials
        self.prefix = f"essmon/v1/{credentials.gateway_id}"
        self.client: Any = None
        self.inbox: list[dict] = []
        self._reader: asyncio.Task | None = None
        self._puback_codes: dict[int, int] = {}

    @property
    def connected(self) -> bool:
        return self.client is not None

    def _new_client(self) -> Any:
        import aiomqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        gateway_id = self.credentials.gateway_id
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.transport.SESSION_EXPIRY_S
        will = aiomqtt.Will(
            topic=f"{self.prefix}/status",
            payload=json.dumps({"gateway_id": gateway_id, "connection": "lost"}),
            qos=1,
        )
        client = aiomqtt.Client(
            self.transport.address.host,
            self.transport.address.port,
            identifier=gateway_id,
            # with a certificate the broker takes the user name from it, and wants no password
            username=None if self.transport.certs else gateway_id,
            password=None if self.transport.certs else self.credentials.device_secret,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            will=will,
            tls_context=self.transport.client_context(gateway_id),
            timeout=self.transport.timeout,
            keepalive=60,
        )
        self._watch_puback_codes(client)
        return client

    def _watch_puback_codes(self, client: Any) -> None:
        """aiomqtt's publish() ignores the PUBACK's reason code, and 0x10 (no matching
        subscribers: essmon's workers are not listening, as just after a broker restart)
        means the message went nowhere and must be sent again. So the paho client under it
        records each message's code, and its publish() tells this task its message id."""
        paho = client._client
        aiomqtt_on_publish = paho.on_publish
        original_publish = paho.publish

        def on_publish(c: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
            self._puback_codes[mid] = getattr(reason_code, "value", reason_code)
            aiomqtt_on_publish(c, userdata, mid, reason_code, properties)

        def publish(*args: Any, **kwargs: Any) -> Any:
            info = original_publish(*args, **kwargs)
            _published_mid.set(info.mid)  # the calling task's context: no other task sees it
            return info

        paho.on_publish = on_publish
        paho.publish = publish

    async def connect(self) -> None:
        if self.client is not None:
            return
        import aiomqtt

        client = self._new_client()
        try:
            await client.__aenter__()
            await client.subscribe(f"{self.prefix}/commands", qos=1)
        except aiomqtt.MqttError as exc:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
            raise TransportError(f"MQTT connect: {exc}") from exc
        self.client = client
        self._reader = asyncio.create_task(self._read(client))

    async def _read(self, client: Any) -> None:
        import aiomqtt

        try:
            async for message in client.messages:
                try:
                    body = json.loads(message.payload)
                except (TypeError, ValueError):
                    logger.warning("%s: commands message is not JSON", self.credentials.gateway_id)
                    continue
                commands = body.get("commands") if isinstance(body, dict) else None
                if isinstance(commands, list):
                    self.inbox.extend(commands)
        except aiomqtt.MqttError:
            pass  # the connection went; the next publish notices and reconnects
        if self.client is client:
            self.client = None

    async def _forget(self) -> Any:
        client, self.client = self.client, None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        return client

    async def drop(self) -> None:
        client = await self._forget()
        if client is None:
            return
        # MQTT 5 reason code 0x04 ("disconnect with will message") asks the broker to
        # publish the last will, as it would for a cut link; aiomqtt's context exit only
        # sends a normal disconnect, so the reason code goes through its paho client.
        try:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.reasoncodes import ReasonCode

            client._client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
            )
            await asyncio.wait_for(asyncio.shield(client._disconnected), 5)
        except Exception:  # the link is going anyway; nothing to save
            logger.debug("%s: disconnect with will failed", self.credentials.gateway_id)
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)

    async def close(self) -> None:
        client = await self._forget()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    async def _publish(self, topic: str, body: dict) -> None:
        import aiomqtt

        if self.client is None:
            await self.connect()
        payload = json.dumps(
            {"gateway_id": self.credentials.gateway_id, **body}, separators=(",", ":")
        )
        try:
            # QoS 1: returns once the broker's PUBACK is in; the broker holds it from then on
            await self.client.publish(f"{self.prefix}/{topic}", payload, qos=1)
        except aiomqtt.MqttError as exc:
            await self._forget()
            raise TransportError(f"MQTT publish: {exc}") from exc
        if self._puback_codes.pop(_published_mid.get(), 0) == NO_MATCHING_SUBSCRIBERS:
            raise TransportError("MQTT publish: no matching subscribers; kept to send again")

    async def send_samples(self, samples: list[dict]) -> Answer:
        # MQTT has no answer per message: a PUBACK is all a gateway learns
        await self._publish("telemetry", {"samples": samples})
        return Answer(accepted=len(samples))

    async def send_events(self, events: list[dict]) -> Answer:
        await self._publish("events", {"events": events})
        return Answer(accepted=len(events))

    async def send_results(self, results: list[dict]) -> Answer:
        await self._publish("results", {"results": results})
        return Answer(accepted=len(results))

    async def send_status(self, status: dict) -> None:
        await self._publish("status", {"status": status})

    async def fetch_commands(self) -> list[dict]:
        if self.client is None:
            await self.connect()
        commands, self.inbox = self.inbox, []
        return commands
