"""The simulator as a test's gateways: a fleet on a thread against the live server, a fake
essmon to watch a fleet against, and the gateways it speaks for provisioned for real."""

import asyncio
import json
import random
import threading
from collections import defaultdict
from contextlib import suppress
from datetime import datetime, timedelta

import httpx

from essmon.simulator.fleet import FleetConfig, read_credentials, run_fleet
from essmon.simulator.physics import JST, SimulatedSite, model_spec
from essmon.simulator.state import entry as state_entry
from essmon.simulator.transports import HttpsTransport


class SimulatorThread:
    """The simulator's fleet loop on a thread of its own, in real time, until stopped."""

    def __init__(self, config: FleetConfig, creds, url: str) -> None:
        self.config, self.creds, self.url = config, creds, url
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self.failure = exc

    async def _main(self) -> None:
        fleet = asyncio.create_task(run_fleet(self.config, self.creds, HttpsTransport(self.url)))
        while not fleet.done() and not self.stopping.is_set():
            await asyncio.sleep(0.2)
        fleet.cancel()
        with suppress(asyncio.CancelledError):
            await fleet

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        assert self.failure is None, self.failure


def run_async(coroutine):
    """asyncio.run on a thread of its own: Playwright's sync API (the browser tests) leaves
    an event loop running in the main thread for the rest of the session."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class FakeEssmon:
    """Just enough of essmon's HTTPS API to watch a fleet: it stores samples by (gateway,
    ts) like the real one and can fail before handling a request or lose the answer after."""

    def __init__(self, *, fail: float = 0.0, lose: float = 0.0, seed: int = 0) -> None:
        self.fail, self.lose = fail, lose
        self.rng = random.Random(seed)
        self.samples: dict[str, dict[str, dict]] = defaultdict(dict)
        self.arrivals: dict[str, list[int]] = defaultdict(list)  # seqs as first stored
        self.batches: dict[str, list[int]] = defaultdict(list)  # sizes
        self.statuses: dict[str, list[dict]] = defaultdict(list)
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.results: dict[str, list[dict]] = defaultdict(list)
        self.commands: dict[str, list[dict]] = defaultdict(list)
        self.failures = 0
        self.lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        gateway_id = request.headers["Authorization"].split()[1].split(":")[0]
        if self.rng.random() < self.fail:
            self.failures += 1
            if self.rng.random() < 0.5:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(503, json={"error": "maintenance"})
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path == "/api/v1/telemetry":
            answer = {"accepted": 0, "duplicates": 0, "rejected": []}
            self.batches[gateway_id].append(len(body["samples"]))
            for index, sample in enumerate(body["samples"]):
                if sample.get("seq") == 13:  # one sample the server refuses
                    answer["rejected"].append({"index": index, "reason": "soc_pct: test"})
                elif sample["ts"] in self.samples[gateway_id]:
                    answer["duplicates"] += 1
                else:
                    self.samples[gateway_id][sample["ts"]] = sample
                    self.arrivals[gateway_id].append(sample["seq"])
                    answer["accepted"] += 1
        elif path == "/api/v1/status":
            self.statuses[gateway_id].append(body["status"])
            answer = {"ok": True}
        elif path == "/api/v1/events":
            self.events[gateway_id].extend(body["events"])
            answer = {"accepted": len(body["events"]), "duplicates": 0, "rejected": []}
        elif path == "/api/v1/commands":
            answered = {r["command_id"] for r in self.results[gateway_id]}
            waiting = [c for c in self.commands[gateway_id] if c["id"] not in answered]
            answer = {"commands": waiting}
        elif path == "/api/v1/results":
            self.results[gateway_id].extend(body["results"])
            answer = {"accepted": len(body["results"]), "duplicates": 0, "rejected": []}
        else:
            return httpx.Response(404, json={"error": "no such endpoint"})
        if self.rng.random() < self.lose:
            self.failures += 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json=answer)

    def transport(self) -> HttpsTransport:
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(self.handle), base_url="http://essmon.test"
        )
        return HttpsTransport("http://essmon.test", client=client)


def provision_fleet(tmp_path, models: list[str]):
    """Gateways of ``models`` provisioned through the real service three days ago, their
    sheet written to ``tmp_path``: the simulator's credentials and the gateways by id."""
    from django.utils import timezone

    from essmon.gateways.models import Gateway
    from essmon.gateways.services.provisioning import provision_gateways, write_gateway_csv

    rows = []
    for model in models:
        rows += provision_gateways(count=1, model=model)
    path = tmp_path / "gateways.csv"
    write_gateway_csv(path, rows)
    # provisioned before the simulated day begins, or essmon refuses its samples
    Gateway.objects.filter(gateway_id__in=[r.gateway_id for r in rows]).update(
        provisioned_at=timezone.now() - timedelta(days=3)
    )
    return read_credentials(path), {
        g.gateway_id: g for g in Gateway.objects.filter(gateway_id__in=[r.gateway_id for r in rows])
    }


def yesterday_from_the_physics(gateway, *, reset_at: int | None = None) -> dict:
    """A whole simulated day before today, stored directly, so the history has a full
    day of 1-minute samples and the hourly, daily and monthly rollups made from them.
    ``reset_at`` (a minute of the day): the counters start from 0 there, as after a
    firmware update. Returns the simulator's state entry, for the live run to continue."""
    from essmon.telemetry.ingest import ingest_samples
    from essmon.telemetry.rollups import rollup_energy

    today = datetime.now(JST).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1)
    site = SimulatedSite(
        model_spec(gateway.model), start=start.timestamp(), seed="history", sky="clear"
    )
    samples = []
    for seq in range(24 * 60 - 1):
        if seq == reset_at:
            site.counters = dict.fromkeys(site.counters, 0.0)
        samples.append(site.step(60).as_sample(seq))
    for chunk in range(0, len(samples), 500):
        ingest_samples(gateway=gateway, samples=samples[chunk : chunk + 500])
    rollup_energy()
    return state_entry(site.t, site.counters, site.soc_pct, len(samples))
