"""Children of ``essmon serve`` kept running: one that exits is started again after a pause
that grows while it keeps failing, so no single part (a worker that met a bug, a scheduler
that lost its database for a moment) stops the rest of the service."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("essmon.serve")

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
# a child that ran this long before exiting counts as healthy: its next restart is quick
HEALTHY_AFTER = 60.0


@dataclass
class Child:
    name: str
    command: Sequence[str]
    restart: bool = True
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    delay: float = FIRST_DELAY
    due_at: float | None = None  # when a stopped child starts again
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        *,
        spawn: Callable[[Sequence[str]], subprocess.Popen] = subprocess.Popen,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.children = children
        self.spawn = spawn
        self.clock = clock
        self.say = say or logger.warning

    def start(self) -> None:
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.process = self.spawn(child.command)
        child.started_at = self.clock()
        child.due_at = None

    def check(self) -> None:
        """Notice children that exited and start those whose pause is over."""
        now = self.clock()
        for child in self.children:
            if child.due_at is not None:
                if now >= child.due_at:
                    child.restarts += 1
                    self.say(f"{child.name}: starting again (restart {child.restarts})")
                    self._start(child)
                continue
            if child.process is None or child.process.poll() is None:
                continue
            code = child.process.returncode
            child.exits.append(code)
            if not child.restart:
                self.say(f"{child.name} exited with {code}; not restarted")
                child.process = None
                continue
            if now - child.started_at >= HEALTHY_AFTER:
                child.delay = FIRST_DELAY
            self.say(f"{child.name} exited with {code}; starting it again in {child.delay:g}s")
            child.due_at = now + child.delay
            child.delay = min(child.delay * 2, MAX_DELAY)

    def stop(self, *, timeout: float = 15.0) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
