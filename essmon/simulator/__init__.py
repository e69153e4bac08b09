"""A fleet of simulated gateways speaking essmon's public protocol (docs/simulator.md).

Deliberately independent of Django and of the rest of essmon: it sees the service only as
a gateway does, through docs/gateway-protocol.md.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``essmon simulate``: parse ``argv`` (without the subcommand) and run the fleet."""
    from essmon.simulator.cli import main as cli_main

    return cli_main(argv)
