"""The benchmark's rows: the same samples, to the byte, for every path.

Row ``i`` of a run is sample ``seq = i // G`` of gateway ``g = i % G`` (G gateways), so a
run of N rows is the fleet sending round-robin, every gateway in turn. Every value is a
pure function of (g, seq): the CSV for ``psql \\copy``, the MQTT messages and the HTTPS
batches are written from the same numbers, and what lands in the database can be checked
against them. Nothing here imports Django: the load generators run without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# One second apart keeps (gateway, ts) unique; MAX_SPAN keeps the newest sample inside
# the last day, where the ingest accepts it whatever the retention and clock checks say.
SPACING_SECONDS = 1
MAX_SPAN = timedelta(hours=22)
PCS_MODES = ("economy", "green", "storage_priority")
COLUMNS = (
    "gateway_id",
    "ts",
    "seq",
    "pv_w",
    "load_w",
    "grid_w",
    "battery_w",
    "soc_pct",
    "battery_temp_c",
    "pcs_state",
    "pcs_mode",
    "pv_kwh",
    "load_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "charge_kwh",
    "discharge_kwh",
    "received_at",
)


def gateway_id(g: int) -> str:
    # the protocol's ID shape (2 digits, 2 capitals, 8 digits); lot 99 is not a real year's
    return f"99BM{g:08d}"


@dataclass(frozen=True)
class Plan:
    gateways: int
    total: int
    base_epoch: int  # ts of seq 0, whole seconds since the epoch

    @classmethod
    def make(cls, *, gateways: int, total: int, now: datetime | None = None) -> Plan:
        per_gateway = -(-total // gateways)
        span = timedelta(seconds=per_gateway * SPACING_SECONDS)
        if span > MAX_SPAN:
            raise ValueError(
                f"{per_gateway} samples per gateway span {span}; use more gateways "
                f"(at most {int(MAX_SPAN.total_seconds()) // SPACING_SECONDS} per gateway)"
            )
        now = now or datetime.now(UTC)
        base = now - timedelta(hours=23)
        return cls(gateways=gateways, total=total, base_epoch=int(base.timestamp()))

    def count_for(self, g: int) -> int:
        """How many rows gateway ``g`` has: its seqs are 0 … count_for(g) − 1."""
        return max(0, -(-(self.total - g) // self.gateways))

    def ts(self, seq: int) -> str:
        moment = datetime.fromtimestamp(self.base_epoch + seq * SPACING_SECONDS, UTC)
        return moment.isoformat()

    @property
    def first_ts(self) -> datetime:
        return datetime.fromtimestamp(self.base_epoch, UTC)


def values(g: int, seq: int) -> tuple:
    """The sample's values after ts and seq, in COLUMNS order; plausible for a 5 kW home
    system, inside every range the ingest checks, and different from row to row."""
    pv = float((g * 131 + seq * 17) % 5000)
    load = float(300 + (g * 71 + seq * 29) % 2500)
    battery = float((g * 53 + seq * 11) % 4001 - 2000)
    grid = load - pv - battery
    soc = 5.0 + ((g * 7 + seq) % 181) / 2
    temp = 15.0 + g % 20 + (seq % 10) / 10
    state = "standby" if (g + seq) % 50 == 0 else "running"
    mode = PCS_MODES[g % 3]
    return (
        pv,
        load,
        grid,
        battery,
        soc,
        temp,
        state,
        mode,
        2000.0 + g + seq / 100,
        1500.0 + g + seq / 125,
        300.0 + g / 2 + seq / 400,
        800.0 + g / 4 + seq / 250,
        400.0 + seq / 500,
        380.0 + seq / 500,
    )


def sample_json(g: int, seq: int, ts: str) -> str:
    """The sample as the protocol's JSON object (floats as repr, as json.dumps writes them)."""
    (
        pv,
        load,
        grid,
        battery,
        soc,
        temp,
        state,
        mode,
        pv_kwh,
        load_kwh,
        imp,
        exp,
        charge,
        discharge,
    ) = values(g, seq)
    # formatted by hand: json.dumps of a dict costs several times more, and the publishers
    # share the two cores with what they measure
    return (
        f'{{"ts": "{ts}", "seq": {seq}, "pv_w": {pv!r}, "load_w": {load!r}, '
        f'"grid_w": {grid!r}, "battery_w": {battery!r}, "soc_pct": {soc!r}, '
        f'"battery_temp_c": {temp!r}, "pcs_state": "{state}", "pcs_mode": "{mode}", '
        f'"pv_kwh": {pv_kwh!r}, "load_kwh": {load_kwh!r}, "grid_import_kwh": {imp!r}, '
        f'"grid_export_kwh": {exp!r}, "charge_kwh": {charge!r}, "discharge_kwh": {discharge!r}}}'
    )


def batch_json(gateway: str, samples: list[str]) -> str:
    return f'{{"gateway_id": "{gateway}", "samples": [{", ".join(samples)}]}}'


def csv_line(pk: int, g: int, seq: int, ts: str, received_at: str) -> str:
    fields = (pk, ts, seq, *values(g, seq), received_at)
    return ",".join(repr(f) if isinstance(f, float) else str(f) for f in fields) + "\n"
