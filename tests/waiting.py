"""Waiting on something a test can observe, never on a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 30, message: str = "condition", every: float = 0.05
) -> T:
    """Ask ``condition`` every ``every`` seconds until it returns something true, and return
    that; fail with ``message`` once ``timeout`` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message}: not within {timeout:g} s")
        time.sleep(every)
