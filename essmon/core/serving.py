"""What ``essmon serve --demo`` asks of the demo.

The demo builds on every other app (accounts, gateways, dealers, telemetry, warranty, the
simulator), so it is the top of the layer order and core, the bottom, may not import it.
It registers itself here instead, when Django starts (``essmon.demo.apps.DemoConfig.ready``);
``serve`` asks for it only when ``--demo`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Demo:
    # (host, port) -> the logins to print: makes the demo data before the children start
    prepare: Callable[[str, int], str]
    # (the essmon command line, host, port) -> the demo simulator's command line
    simulator: Callable[[list[str], str, int], list[str]]
    # (host, port, since) -> every child has started and done its first work, so that the
    # logins printed next are not lost above the children's start lines
    started: Callable[[str, int, datetime], bool]


_demo: Demo | None = None


def register_demo(demo: Demo) -> None:
    global _demo
    _demo = demo


def registered_demo() -> Demo | None:
    return _demo
