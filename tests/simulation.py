"""The simulator's fleet loop as a test's background gateway."""

import asyncio
import threading
from contextlib import suppress

from essmon.simulator.fleet import FleetConfig, run_fleet
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
