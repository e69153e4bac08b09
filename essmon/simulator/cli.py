"""``essmon simulate``: the command line of the fleet simulator (no Django here)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from essmon.simulator.fleet import (
    FaultSpec,
    FleetConfig,
    FleetStats,
    Window,
    read_credentials,
    run_fleet,
)
from essmon.simulator.physics import JST
from essmon.simulator.transports import HttpsTransport, MqttTransport, Transport

AHEAD_LIMIT = timedelta(days=1)  # the server refuses samples further ahead of its clock
AHEAD_MARGIN = timedelta(hours=1)
GATEWAY_ID_RE = re.compile(r"^[0-9]{2}[A-Z]{2}[0-9]{8}\Z")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

DESCRIPTION = """\
Run a fleet of simulated gateways against essmon, over HTTPS (--url) or MQTT (--mqtt),
with the credentials of a provisioning CSV (essmon provision-gateways --out FILE).

Each gateway simulates a site near Kyoto: PV from the sun's position and the weather, a
household (KP-GWBT-C: business) load, a battery and PCS following the settings in force.
It sends a sample every --interval simulated seconds, a status at start and every 5
simulated minutes, polls for commands (HTTPS) or subscribes to them (MQTT), buffers while
offline and backfills in order.

Simulated time runs --speed times real time from --start. essmon refuses samples more than
a day ahead of its clock, so a fast run should start in the past (e.g. --start -1d) or be
bounded by --duration. Without --duration a run at --speed 1 goes on until Ctrl-C; a faster
one stops by itself an hour before its simulated clock would be a day ahead of real time.
Times (--start, outages, faults) are ISO 8601 (without an offset: JST), "now", or
relative: "-1d" from now for --start, "+2h" from the start for outages and faults.
Durations: 90, 90s, 30m, 2h, 1d, 1h30m.

Exit status: 0 when every sample was delivered (or refused by the server, which is
logged), 1 when some were still buffered at the end, 2 on a usage error."""

EPILOG = """\
examples:
  essmon simulate --csv gateways.csv --url http://127.0.0.1:8000
  essmon simulate --csv gateways.csv --gateways 1000 --start -1d --speed 60 --duration 2h \\
      --outage +30m,+1h --fault E203@+45m/20m --fault-rate 0.5
  essmon simulate --csv gateways.csv --mqtt mqtt://127.0.0.1:1883 --speed 10"""


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h``, ``1d`` or ``1h30m``."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_RE.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{text!r} is not a duration (e.g. 90s, 30m, 2h, 1d)") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return seconds


def parse_time(text: str, *, base: datetime) -> datetime:
    """An aware time from ISO 8601 (naive means JST), ``now``, or ``+2h``/``-1d`` from
    ``base``."""
    text = text.strip()
    if text == "now":
        return datetime.now(JST)
    if len(text) > 1 and text[0] in "+-":
        offset = timedelta(seconds=parse_duration(text[1:]))
        return base + offset if text[0] == "+" else base - offset
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time (ISO 8601, 'now', +2h or -1d)") from None
    return when if when.tzinfo else when.replace(tzinfo=JST)


def _gateway_suffix(parts: list[str], option: str) -> str | None:
    if len(parts) == 1:
        return None
    if len(parts) == 2 and GATEWAY_ID_RE.match(parts[1]):
        return parts[1]
    raise ValueError(f"{option}: expected one gateway ID after the comma, not {parts[1:]}")


def parse_outage(text: str, *, start: datetime) -> Window:
    """``START,END[,GATEWAY_ID]``."""
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise ValueError(f"--outage {text!r}: expected START,END[,GATEWAY_ID]")
    begin, end = parse_time(parts[0], base=start), parse_time(parts[1], base=start)
    if end <= begin:
        raise ValueError(f"--outage {text!r}: the end is not after the start")
    gateway = _gateway_suffix(parts[1:], "--outage")
    return Window(begin.timestamp(), end.timestamp(), gateway)


def parse_fault(text: str, *, start: datetime) -> FaultSpec:
    """``CODE@TIME[/DURATION][,GATEWAY_ID]``."""
    head, *rest = text.split(",")
    gateway = _gateway_suffix([head, *rest], "--fault")
    code, at_sign, when = head.partition("@")
    if not at_sign or not re.fullmatch(r"[A-Z][A-Z0-9]{1,15}", code):
        raise ValueError(f"--fault {text!r}: expected CODE@TIME[/DURATION], e.g. E203@+2h/30m")
    when, slash, length = when.partition("/")
    duration = parse_duration(length) if slash else None
    return FaultSpec(code, parse_time(when, base=start).timestamp(), duration, gateway)


def _speed(text: str) -> float:
    if text.strip().lower() in ("max", "inf"):
        return math.inf
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text}: must be positive")
        return value

    return parse


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    data_dir = Path(os.environ.get("ESSMON_DATA_DIR") or "var")
    port = os.environ.get("ESSMON_PORT") or "8000"
    parser = argparse.ArgumentParser(
        prog="essmon simulate",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--csv",
        type=Path,
        default=data_dir / "demo-gateways.csv",
        help="provisioning CSV with device secrets (default: %(default)s, the demo's)",
    )
    where.add_argument(
        "--gateways", type=_positive(int), help="simulate the first N gateways (default: all)"
    )
    target = where.add_mutually_exclusive_group()
    target.add_argument(
        "--url",
        default=f"http://127.0.0.1:{port}",
        help="essmon's base URL for HTTPS (default: %(default)s)",
    )
    target.add_argument("--mqtt", help="use MQTT instead: mqtt://host:port or mqtts://host:port")
    where.add_argument(
        "--connections",
        type=_positive(int),
        default=32,
        help="HTTPS connection pool shared by the fleet (default: %(default)s)",
    )
    where.add_argument(
        "--state",
        type=Path,
        help="keep each gateway's counters and state of charge in this JSON file between "
        "runs, so a restart continues them (essmon serve --demo passes its own)",
    )
    where.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    where.add_argument(
        "--certs",
        type=Path,
        help="MQTT with client certificates instead of device secrets: the folder of "
        "<gateway_id>.pem and <gateway_id>.key (essmon gateway-certs issue --out), mqtts:// only",
    )
    where.add_argument(
        "--ca", type=Path, help="MQTT: verify the broker's TLS certificate with this CA file"
    )

    clock = parser.add_argument_group("simulated clock")
    clock.add_argument(
        "--start", default="now", help="simulated start: ISO time, now, or -1d (default: now)"
    )
    clock.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="simulated seconds per real second, or max (default: %(default)s)",
    )
    clock.add_argument(
        "--interval",
        type=_duration_arg,
        default=60.0,
        help="simulated seconds between samples (default: 60)",
    )
    clock.add_argument(
        "--duration",
        type=_duration_arg,
        help="simulated span to run (default: until Ctrl-C at speed 1, else see above)",
    )
    clock.add_argument(
        "--send-every",
        type=_duration_arg,
        help="simulated seconds between sends, batching the samples (default: --interval)",
    )

    trouble = parser.add_argument_group("trouble")
    trouble.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="START,END[,GATEWAY_ID]",
        help="network down in simulated time (repeatable); samples are buffered",
    )
    trouble.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CODE@TIME[/DURATION][,GATEWAY_ID]",
        help="a fault event pair, e.g. E203@+2h/30m (repeatable); E codes stop the PCS",
    )
    trouble.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="random faults per gateway per simulated day (default: 0)",
    )

    other = parser.add_argument_group("other")
    other.add_argument("--seed", default="1", help="makes weather and sites repeatable")
    other.add_argument("--latitude", type=float, default=35.0)
    other.add_argument("--longitude", type=float, default=135.8)
    other.add_argument(
        "--report-every",
        type=float,
        default=10.0,
        help="real seconds between summary lines; 0: none (default: %(default)s)",
    )
    other.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="real seconds to deliver what is buffered at the end (default: %(default)s)",
    )
    other.add_argument("-v", "--verbose", action="store_true", help="log each command applied")
    return parser


def default_duration(start: datetime, speed: float, now: datetime) -> float | None:
    """The longest run whose simulated clock stays an hour short of the server's one-day
    horizon, or None (no bound) when simulated time does not outrun real time."""
    if speed <= 1:
        return None
    horizon = (now + AHEAD_LIMIT - AHEAD_MARGIN - start).total_seconds()
    if horizon <= 0:
        return None
    return float(math.floor(horizon / (1 - 1 / speed)))


def config_from_args(args: argparse.Namespace, now: datetime) -> FleetConfig:
    start = parse_time(args.start, base=now)
    # whole seconds: a sample's timestamp is its identity, so keep them tidy
    start = start.replace(microsecond=0)
    duration = args.duration
    if duration is None:
        duration = default_duration(start, args.speed, now)
        if duration is None and args.speed > 1:
            raise ValueError("--start is already a day ahead of now; give --duration")
    return FleetConfig(
        start=start,
        interval=args.interval,
        speed=args.speed,
        duration=duration,
        send_every=args.send_every,
        outages=[parse_outage(text, start=start) for text in args.outage],
        faults=[parse_fault(text, start=start) for text in args.fault],
        fault_rate=args.fault_rate,
        seed=args.seed,
        report_every=args.report_every or 10.0,
        drain_timeout=args.drain_timeout,
        latitude=args.latitude,
        longitude=args.longitude,
        state_file=args.state,
    )


def _plan(config: FleetConfig, gateways: int, transport: Transport, target: str) -> str:
    span = (
        "until Ctrl-C" if config.duration is None else f"for {timedelta(seconds=config.duration)}"
    )
    speed = "as fast as possible" if math.isinf(config.speed) else f"×{config.speed:g}"
    per = config.samples_per_gateway
    count = f", {per} samples each" if per is not None else ""
    return (
        f"simulating {gateways} gateways over {transport.name.upper()} to {target}: "
        f"from {config.start.isoformat()} {span} at {speed}, "
        f"a sample every {config.interval:g} s{count}"
    )


def _warn_ahead(config: FleetConfig, now: datetime) -> None:
    if config.duration is None:
        return
    real_span = 0.0 if math.isinf(config.speed) else config.duration / config.speed
    end_sim = config.start + timedelta(seconds=config.duration)
    if end_sim > now + timedelta(seconds=real_span) + AHEAD_LIMIT:
        logging.getLogger("essmon.simulator").warning(
            "simulated time will run more than a day ahead of real time: the server will "
            "refuse the later samples (start earlier or shorten --duration)"
        )


async def _run(
    config: FleetConfig, gateways: list, transport: Transport, report_every: float
) -> FleetStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        print("stopping: delivering what is buffered (Ctrl-C again to abort)", flush=True)
        stop.set()
        # a second Ctrl-C interrupts for real
        loop.remove_signal_handler(signal.SIGINT)

    # SIGHUP: the terminal was closed; stopping as for SIGTERM writes the state file last
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # not possible outside the main thread or on Windows: then Ctrl-C just interrupts
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    report = (lambda line: print(line, flush=True)) if report_every > 0 else None
    return await run_fleet(config, gateways, transport, stop=stop, report=report)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # one line per request would drown everything else
    logging.getLogger("httpx").setLevel(logging.WARNING)
    now = datetime.now(JST)
    try:
        config = config_from_args(args, now)
        gateways = read_credentials(args.csv)
        transport: Transport = (
            MqttTransport(args.mqtt, verify=not args.insecure, certs=args.certs, ca=args.ca)
            if args.mqtt
            else HttpsTransport(args.url, connections=args.connections, verify=not args.insecure)
        )
    except FileNotFoundError:
        parser.error(
            f"--csv {args.csv}: no such file (essmon provision-gateways --out FILE writes one)"
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    if args.gateways:
        if args.gateways > len(gateways):
            parser.error(f"--gateways {args.gateways}: {args.csv} has {len(gateways)} usable rows")
        gateways = gateways[: args.gateways]
    if not gateways:
        parser.error(f"{args.csv} has no gateway with a device secret")
    if args.mqtt and args.certs:
        lacking = [
            gw.gateway_id
            for gw in gateways
            if not all((args.certs / f"{gw.gateway_id}{ext}").is_file() for ext in (".pem", ".key"))
        ]
        if lacking:
            parser.error(f"--certs {args.certs}: no <ID>.pem and <ID>.key for {lacking[0]}")
    _warn_ahead(config, now)
    print(_plan(config, len(gateways), transport, args.mqtt or args.url), flush=True)
    try:
        stats = asyncio.run(_run(config, gateways, transport, args.report_every))
    except KeyboardInterrupt:
        print("aborted", flush=True)
        return 1
    totals = stats.totals()
    print("totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()), flush=True)
    return 1 if totals["undelivered"] else 0
