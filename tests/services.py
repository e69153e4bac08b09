"""Reaching the external services tests rely on: skip outside CI, fail under CI=true."""

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"


def require(condition: bool, what: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} is missing (set CI=true to make this a failure)")


def free_port() -> int:
    """A local TCP port nothing listens on (for a test server, or to simulate an outage)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
