"""A Mosquitto broker of the test's own: its port, credentials and ACL from essmon's
generated files, persistence in a temporary folder, and start/stop/restart at will."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from essmon.mqtt.broker import (
    BrokerAddress,
    BrokerFiles,
    CertificateListener,
    certificate_listener_lines,
    mosquitto_listeners,
    write_broker_files,
)
from tests.services import free_port, require
from tests.waiting import wait_until

# built by `make mosquitto` (essmon build-mqtt-plugin)
ACL_PLUGIN = Path(__file__).resolve().parent.parent / "build" / "essmon_gateway_acl.so"
SERVICE = BrokerAddress("127.0.0.1", 0, "essmon-ingest", "ingest-secret-for-tests", False)


class Mosquitto:
    def __init__(self, folder: Path, *, certificates: dict[str, Path] | None = None) -> None:
        """``certificates``: cafile, crlfile, certfile and keyfile of a third listener, for
        gateways with client certificates (on ``self.tls_port``)."""
        require(shutil.which("mosquitto") is not None, "Mosquitto (the mosquitto binary)")
        require(ACL_PLUGIN.exists(), f"essmon's Mosquitto plugin ({ACL_PLUGIN}: make mosquitto)")
        self.folder = folder
        self.port = free_port()  # the gateways'
        self.service_port = free_port()
        self.process: subprocess.Popen | None = None
        self.service = BrokerAddress(
            "127.0.0.1", self.service_port, SERVICE.username, SERVICE.password, False
        )
        self.files = BrokerFiles.beside(str(folder / "passwd"), str(folder / "acl"))
        (folder / "data").mkdir(parents=True, exist_ok=True)
        lines = [
            *mosquitto_listeners(
                self.files,
                gateway_listener=f"{self.port} 127.0.0.1",
                service_listener=f"{self.service_port} 127.0.0.1",
                acl_plugin=ACL_PLUGIN,
            ),
            *self._certificate_listener(certificates),
            "persistence true",
            f"persistence_location {folder / 'data'}/",
            f"pid_file {folder / 'mosquitto.pid'}",
            "max_queued_messages 1000000",
            "max_inflight_messages 0",
            "max_packet_size 1100000",
            f"log_dest file {folder / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot read these files
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def _certificate_listener(self, certificates: dict[str, Path] | None) -> list[str]:
        self.tls_port = free_port() if certificates else 0
        if not certificates:
            return []
        tls = CertificateListener(listener=f"{self.tls_port} 127.0.0.1", **certificates)
        return certificate_listener_lines(tls, files=self.files, acl_plugin=ACL_PLUGIN)

    @property
    def url(self) -> str:
        """The service's (ESSMON_MQTT_URL): on its own listener."""
        return (
            f"mqtt://{self.service.username}:{self.service.password}@127.0.0.1:{self.service_port}"
        )

    def write_credentials(self) -> None:
        write_broker_files(self.files, service=self.service)

    def start(self) -> None:
        self.write_credentials()
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            try:
                for port in (self.port, self.service_port, self.tls_port):
                    if not port:
                        continue
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        # SIGTERM: Mosquitto saves its persistence file (sessions, queued messages) on the way out
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def reload(self) -> None:
        self.write_credentials()
        if self.process:
            # SIGHUP: re-read the password and ACL files. The broker logs the line first and
            # then reloads before it reads another packet (it is single-threaded): once the
            # line is there, whatever a test sends next meets the new files.
            before = self.log().count("Reloading config.")
            self.process.send_signal(1)
            wait_until(
                lambda: self.log().count("Reloading config.") > before, 10, "Mosquitto reloading"
            )

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text() if path.exists() else ""
