"""The physics of one simulated site: sun, weather, household load and a battery behind a
power conditioner, stepped in simulated time. Pure Python, no I/O, deterministic for a seed.

Powers follow the protocol's signs: ``grid_w`` + import / − export, ``battery_w`` +
discharge / − charge. The AC balance ``pv + discharge + import == load + charge + export``
holds exactly in every step; conversion losses are taken inside the battery (they show as
stored energy, not as a gap in the balance).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

# The simulator is a client that imports nothing of the service, so it keeps its own copy
# of the protocol's names (the service's homes: essmon.core.jst, gateways.schema.MODES and
# Setting, telemetry.models.COUNTERS); tests/project/test_contracts.py checks they agree.
JST = timezone(timedelta(hours=9), "JST")
KYOTO = (35.0, 135.8)
MODES = ("economy", "green", "storage_priority")
SETTING_NAMES = ("mode", "charge_window", "discharge_window", "reserve_soc_pct", "export_limit_w")
_JST_SECONDS = 9 * 3600
_DEG = math.pi / 180


# --- models --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What the simulator knows of a product: its battery, its PCS and a typical PV array,
    and the setting ranges essmon enforces for it (protocol section 5)."""

    name: str
    capacity_kwh: float
    power_kw: float  # PCS rating; also the battery's charge and discharge limit
    pv_kwp: float
    round_trip_efficiency: float
    commercial: bool
    reserve_min: int
    reserve_max: int
    reserve_step: int
    export_limit_max_w: int


MODELS: dict[str, ModelSpec] = {
    "KP-GWBT-A": ModelSpec("KP-GWBT-A", 9.8, 5.9, 5.5, 0.90, False, 0, 100, 10, 5900),
    "KP-GWBT-C": ModelSpec("KP-GWBT-C", 49.5, 20.0, 30.0, 0.92, True, 10, 100, 5, 20000),
}


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``; an unknown model behaves like a KP-GWBT-A but takes the
    protocol's generic setting ranges."""
    if model in MODELS:
        return MODELS[model]
    base = MODELS["KP-GWBT-A"]
    return ModelSpec(
        model or base.name,
        base.capacity_kwh,
        base.power_kw,
        base.pv_kwp,
        base.round_trip_efficiency,
        False,
        0,
        100,
        1,
        100_000,
    )


# --- settings ------------------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _valid_hhmm(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return False
    hours, minutes = value[:2], value[3:]
    return (
        hours.isascii()
        and minutes.isascii()
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    )


def in_window(window: tuple[str, str], minute_of_day: float) -> bool:
    """Whether a time of day falls in ``[start, end)``; a window may cross midnight."""
    start, end = _minutes(window[0]), _minutes(window[1])
    if start <= end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


def minutes_left(window: tuple[str, str], minute_of_day: float) -> float:
    """Minutes from ``minute_of_day`` (inside the window) to the window's end."""
    return (_minutes(window[1]) - minute_of_day) % 1440 or 1440.0


@dataclass
class DeviceSettings:
    """The settings in force on the device (protocol section 2.5)."""

    mode: str = "economy"
    charge_window: tuple[str, str] = ("23:00", "07:00")
    discharge_window: tuple[str, str] = ("07:00", "23:00")
    reserve_soc_pct: int = 30
    export_limit_w: int = 5900

    @classmethod
    def defaults_for(cls, spec: ModelSpec) -> DeviceSettings:
        # A reserve the model accepts, and export up to the model's limit: the factory
        # state of a site on a feed-in tariff.
        reserve = min(max(30, spec.reserve_min), spec.reserve_max)
        reserve -= (reserve - spec.reserve_min) % spec.reserve_step
        return cls(reserve_soc_pct=reserve, export_limit_w=spec.export_limit_max_w)

    def as_json(self) -> dict:
        return {
            "mode": self.mode,
            "charge_window": list(self.charge_window),
            "discharge_window": list(self.discharge_window),
            "reserve_soc_pct": self.reserve_soc_pct,
            "export_limit_w": self.export_limit_w,
        }

    def check(self, spec: ModelSpec, setting: object, value: object) -> str | None:
        """Why the device cannot apply ``setting = value``, or None when it can."""
        if setting not in SETTING_NAMES:
            return f"unknown setting {setting!r}"
        if setting == "mode":
            return None if value in MODES else f"mode: {value!r} is not supported"
        if setting in ("charge_window", "discharge_window"):
            if not (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(_valid_hhmm(v) for v in value)
            ):
                return f'{setting}: expected ["HH:MM", "HH:MM"]'
            if value[0] == value[1]:
                return f"{setting}: start and end are the same"
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{setting}: expected a whole number"
        if setting == "reserve_soc_pct":
            if not spec.reserve_min <= value <= spec.reserve_max:
                return (
                    f"reserve_soc_pct: {value} is outside "
                    f"{spec.reserve_min}-{spec.reserve_max} for {spec.name}"
                )
            if (value - spec.reserve_min) % spec.reserve_step:
                return f"reserve_soc_pct: {spec.name} takes steps of {spec.reserve_step}"
            return None
        if not 0 <= value <= spec.export_limit_max_w:
            return f"export_limit_w: {value} is outside 0-{spec.export_limit_max_w} for {spec.name}"
        return None

    def apply(self, setting: str, value: object) -> None:
        if setting in ("charge_window", "discharge_window"):
            value = (value[0], value[1])  # type: ignore[index]  # check() made it a pair
        setattr(self, setting, value)


# --- sun -----------------------------------------------------------------------------


def sun_vector(
    latitude: float, longitude: float, day_of_year: int, hour_jst: float
) -> tuple[float, float, float]:
    """Unit vector to the sun as (east, north, up) for a place and a JST clock time.

    Cooper's declination and the usual equation-of-time fit: good to well under a degree,
    which is far finer than anything the weather does to PV."""
    declination = 23.45 * _DEG * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    b = 2 * math.pi * (day_of_year - 81) / 364
    equation_of_time = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    solar_hour = hour_jst + (4 * (longitude - 135.0) + equation_of_time) / 60
    hour_angle = 15 * _DEG * (solar_hour - 12)
    lat = latitude * _DEG
    cos_d, sin_d = math.cos(declination), math.sin(declination)
    east = -cos_d * math.sin(hour_angle)
    north = sin_d * math.cos(lat) - cos_d * math.sin(lat) * math.cos(hour_angle)
    up = sin_d * math.sin(lat) + cos_d * math.cos(lat) * math.cos(hour_angle)
    return east, north, up


def clear_sky(cos_zenith: float) -> tuple[float, float]:
    """Clear-sky (direct normal, diffuse horizontal) irradiance in W/m².

    Haurwitz's global horizontal model, split with a diffuse share that grows as the sun
    sinks (a longer path through the air scatters more)."""
    if cos_zenith <= 0.01:
        return 0.0, 0.0
    ghi = 1098 * cos_zenith * math.exp(-0.057 / cos_zenith)
    diffuse = ghi * (0.10 + 0.20 * (1 - cos_zenith))
    return (ghi - diffuse) / cos_zenith, diffuse


# --- weather -------------------------------------------------------------------------

# Share of clear, partly cloudy and overcast-or-rainy days per month in Kyoto, roughly as
# the climate normals have them: a clear winter, the rainy season (梅雨) in June and July.
_SKY_BY_MONTH = {
    1: (0.45, 0.35),
    2: (0.42, 0.35),
    3: (0.38, 0.35),
    4: (0.40, 0.35),
    5: (0.40, 0.35),
    6: (0.18, 0.30),
    7: (0.30, 0.35),
    8: (0.45, 0.35),
    9: (0.33, 0.35),
    10: (0.45, 0.35),
    11: (0.45, 0.33),
    12: (0.45, 0.33),
}
# day type -> (cloud threshold shift, clarity when no cloud is in front of the sun)
SKIES = {"clear": (-2.6, 1.0), "partly": (0.5, 0.9), "overcast": (3.0, 0.35), "rain": (4.0, 0.15)}


def day_sky(weather_seed: str, day_index: int, month: int) -> str:
    """The regional sky of a day: the same for every site simulated with the same seed, as
    neighbours under one sky are."""
    rng = random.Random(f"{weather_seed}:sky:{day_index}")
    clear, partly = _SKY_BY_MONTH[month]
    draw = rng.random()
    if draw < clear:
        return "clear"
    if draw < clear + partly:
        return "partly"
    return "overcast" if rng.random() < 0.6 else "rain"


class Smooth:
    """An Ornstein–Uhlenbeck process: smooth noise with a correlation time, exact for any
    step length, so a long sampling interval does not change its statistics."""

    def __init__(self, rng: random.Random, tau_s: float, sigma: float = 1.0) -> None:
        self.rng, self.tau, self.sigma = rng, tau_s, sigma
        self.x = rng.gauss(0.0, sigma)

    def step(self, dt: float) -> float:
        if dt > 0:
            decay = math.exp(-dt / self.tau)
            self.x = self.x * decay + self.sigma * math.sqrt(1 - decay * decay) * self.rng.gauss(
                0.0, 1.0
            )
        return self.x


def ambient_temperature(day_of_year: int, hour: float) -> float:
    """Kyoto's air temperature: annual mean 16.2 °C, coldest late January (about 5 °C),
    warmest early August (about 28 °C), a daily swing peaking at 14:00."""
    seasonal = 16.2 - 11.7 * math.cos(2 * math.pi * (day_of_year - 22) / 365)
    swing = 3.5 + 1.0 * math.sin(2 * math.pi * (day_of_year - 100) / 365)
    return seasonal + swing * math.cos(2 * math.pi * (hour - 14) / 24)


# --- the site ------------------------------------------------------------------------

COUNTERS = (
    "pv_kwh",
    "load_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "charge_kwh",
    "discharge_kwh",
)


@dataclass
class Reading:
    """The site at one instant, powers being the averages over the step that ended then."""

    t: float  # Unix time
    pv_w: float
    load_w: float
    grid_w: float
    battery_w: float
    soc_pct: float
    battery_temp_c: float
    pcs_state: str
    pcs_mode: str
    curtailed_w: float
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def timestamp(self) -> str:
        return iso_jst(self.t)

    def as_sample(self, seq: int) -> dict:
        sample = {
            "ts": self.timestamp,
            "seq": seq,
            "pv_w": round(self.pv_w, 1),
            "load_w": round(self.load_w, 1),
            "grid_w": round(self.grid_w, 1),
            "battery_w": round(self.battery_w, 1),
            "soc_pct": round(self.soc_pct, 2),
            "battery_temp_c": round(self.battery_temp_c, 1),
            "pcs_state": self.pcs_state,
            "pcs_mode": self.pcs_mode,
        }
        # Rounding is monotone, so rounded counters still never go down.
        sample.update({name: round(value, 4) for name, value in self.counters.items()})
        return sample


def iso_jst(t: float) -> str:
    """ISO 8601 in JST; milliseconds only when the instant is not a whole second, because
    (gateway, ts) is a sample's identity and sub-second intervals must stay distinct."""
    spec = "seconds" if t == int(t) else "milliseconds"
    return datetime.fromtimestamp(t, JST).isoformat(timespec=spec)


class SimulatedSite:
    """One installation: PV array, household (or business) load, battery and PCS.

    ``step(dt)`` advances ``dt`` simulated seconds and returns the reading at the new
    instant; ``step(0)`` reads the present without integrating anything."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        start: float,
        seed: str,
        weather_seed: str = "weather",
        latitude: float = KYOTO[0],
        longitude: float = KYOTO[1],
        settings: DeviceSettings | None = None,
        soc_pct: float | None = None,
        sky: str | None = None,
        vary_roof: bool = False,
    ) -> None:
        self.spec = spec
        self.t = float(start)
        self.latitude, self.longitude = latitude, longitude
        self.settings = settings or DeviceSettings.defaults_for(spec)
        self.weather_seed = weather_seed
        self.forced_sky = sky
        rng = self.rng = random.Random(f"{seed}:site")
        # Each roof differs: size, tilt and facing vary around the model's typical array,
        # unless the caller wants the textbook array: the model's size, south, 30°.
        self.pv_kwp, self.tilt, self.azimuth = spec.pv_kwp, 30.0, 180.0
        if vary_roof:
            self.pv_kwp *= rng.uniform(0.8, 1.15)
            self.tilt = rng.uniform(15, 35)
            self.azimuth = rng.uniform(135, 225)
        tilt, azimuth = self.tilt * _DEG, self.azimuth * _DEG
        self._normal = (
            math.sin(tilt) * math.sin(azimuth),
            math.sin(tilt) * math.cos(azimuth),
            math.cos(tilt),
        )
        self._sky_view = (1 + math.cos(tilt)) / 2
        self.household = rng.uniform(0.75, 1.3)
        self.clouds = Smooth(rng, tau_s=900)
        self.haze = Smooth(rng, tau_s=4 * 3600, sigma=0.03)
        self.load_noise = Smooth(rng, tau_s=1200, sigma=0.12)
        self.spike_until = 0.0
        self.spike_w = 0.0
        self.soc_pct = rng.uniform(35, 80) if soc_pct is None else soc_pct
        # Counters as of an installation some months old, so they look like a real unit's.
        age_days = rng.uniform(30, 900)
        self.counters = {
            "pv_kwh": age_days * self.pv_kwp * 3.3,
            "load_kwh": age_days * 12 * self.household * (8 if spec.commercial else 1),
            "grid_import_kwh": age_days * 5.5 * self.household,
            "grid_export_kwh": age_days * self.pv_kwp * 1.6,
            "charge_kwh": age_days * spec.capacity_kwh * 0.45,
            "discharge_kwh": age_days * spec.capacity_kwh * 0.40,
        }
        self.fault_stops_pcs = False
        self.overheating = False
        self._day_index = -1
        self._day_of_year = 1
        self._weekday = 0
        self._sky = "clear"
        self.battery_temp_c = self._battery_environment(self._local_time()[1])

    # -- calendar --

    def _local_time(self) -> tuple[int, float]:
        local = self.t + _JST_SECONDS
        day_index = math.floor(local / 86400)
        if day_index != self._day_index:
            day = date(1970, 1, 1) + timedelta(days=day_index)
            self._day_index = day_index
            self._day_of_year = day.timetuple().tm_yday
            self._weekday = day.weekday()
            self._sky = self.forced_sky or day_sky(self.weather_seed, day_index, day.month)
        return day_index, (local - day_index * 86400) / 3600

    @property
    def sky(self) -> str:
        self._local_time()
        return self._sky

    # -- the parts --

    def _pv_w(self, hour: float, dt: float, ambient: float) -> float:
        east, north, up = sun_vector(self.latitude, self.longitude, self._day_of_year, hour)
        cloud_x = self.clouds.step(dt)
        haze = self.haze.step(dt)
        dni, dhi = clear_sky(up)
        if dni == 0.0 and dhi == 0.0:
            return 0.0
        shift, clarity = SKIES[self._sky]
        # cover: how much of the sun a cloud hides now. A logistic of the smooth process
        # gives clouds that drift in and out over minutes instead of flickering.
        cover = 1 / (1 + math.exp(-4 * (cloud_x + shift)))
        clarity = min(1.0, max(0.05, clarity + haze))
        beam = dni * (1 - 0.9 * cover) * clarity
        # clouds in front of the sun still scatter part of its light down
        diffuse = (dhi + 0.25 * dni * up * cover) * clarity
        cos_incidence = max(
            0.0, east * self._normal[0] + north * self._normal[1] + up * self._normal[2]
        )
        ghi = dni * up + dhi
        poa = beam * cos_incidence + diffuse * self._sky_view + 0.2 * ghi * (1 - self._sky_view)
        cell_temp = ambient + poa / 800 * 28
        dc = self.pv_kwp * poa * (1 - 0.0037 * (cell_temp - 25))
        return max(0.0, min(dc * 0.91, self.spec.power_kw * 1000))

    def _load_w(self, hour: float, dt: float, ambient: float) -> float:
        noise = math.exp(self.load_noise.step(dt))
        weekend = self._weekday >= 5
        if self.spec.commercial:
            base = 2500.0
            if not weekend and 8.5 <= hour < 18:
                ramp = min(1.0, (hour - 8.5) * 2, (18 - hour) * 2)
                base += ramp * (9500 - 2500 * math.exp(-(((hour - 12.5) / 0.5) ** 2)))
            cooling = max(0.0, ambient - 24) * 600 if 9 <= hour < 19 and not weekend else 0.0
            heating = max(0.0, 12 - ambient) * 350 if 8 <= hour < 18 and not weekend else 0.0
            return (base + cooling + heating) * noise * self.household

        def bump(peak: float, at: float, width: float) -> float:
            return peak * math.exp(-(((hour - at) / width) ** 2))

        # about 10-12 kWh a day for an average household, as Japanese statistics have it
        shape = (
            200
            + bump(700, 7.0 if not weekend else 8.3, 0.9)
            + bump(300 if not weekend else 550, 12.5, 1.6)
            + bump(900, 19.3, 1.7)
            + bump(250, 22.6, 0.9)
        )
        awake = 6 <= hour < 23.5
        if awake and ambient > 25:
            shape += (ambient - 25) * 50 * (1.6 if hour >= 17 else 1.0)
        if awake and ambient < 10:
            shape += (10 - ambient) * 40
        # appliances (kettle, microwave, dryer): short spikes while people are up
        if dt > 0:
            if self.t >= self.spike_until:
                self.spike_w = 0.0
            rate_per_h = 0.5 if awake else 0.05
            if not self.spike_w and self.rng.random() < 1 - math.exp(-rate_per_h * dt / 3600):
                self.spike_w = self.rng.uniform(600, 1400)
                self.spike_until = self.t + self.rng.uniform(120, 1200)
        return (shape * noise + self.spike_w) * self.household

    def _battery_environment(self, hour: float) -> float:
        # An outdoor cabinet in the shade: follows the air, buffered towards 20 °C.
        return 0.65 * ambient_temperature(self._day_of_year, hour) + 7.0

    # -- a step --

    def step(self, dt: float) -> Reading:
        if dt < 0:
            raise ValueError("time runs forward only")
        self.t += dt
        _, hour = self._local_time()
        minute = hour * 60
        ambient = ambient_temperature(self._day_of_year, hour)
        pv_available = self._pv_w(hour, dt, ambient)
        load = self._load_w(hour, dt, ambient)
        settings = self.settings
        spec = self.spec
        limit_w = spec.power_kw * 1000
        eta = math.sqrt(spec.round_trip_efficiency)  # each way
        capacity_wh = spec.capacity_kwh * 1000
        hours = dt / 3600

        charge = discharge = curtailed = 0.0
        pv = pv_available
        if self.fault_stops_pcs:
            pv = 0.0
            curtailed = pv_available
            state = "fault"
        else:
            # the most the battery can take or give in this step without leaving its bounds
            if hours > 0:
                room_wh = max(0.0, (100 - self.soc_pct) / 100 * capacity_wh)
                usable_wh = max(0.0, (self.soc_pct - settings.reserve_soc_pct) / 100 * capacity_wh)
                max_charge = min(limit_w, room_wh / hours / eta)
                max_discharge = min(limit_w, usable_wh / hours * eta)
            else:
                max_charge = limit_w if self.soc_pct < 100 else 0.0
                max_discharge = limit_w if self.soc_pct > settings.reserve_soc_pct else 0.0
            mode = settings.mode
            charging_window = mode == "economy" and in_window(settings.charge_window, minute)
            surplus = pv - load
            if surplus >= 0:
                if mode != "economy":  # green and storage_priority store surplus first
                    charge = min(surplus, max_charge)
                export = surplus - charge
                if export > settings.export_limit_w:
                    # what the grid may not take goes into the battery, then is curtailed
                    extra = min(export - settings.export_limit_w, max_charge - charge)
                    charge += extra
                    export -= extra
                    if export > settings.export_limit_w:
                        curtailed = export - settings.export_limit_w
                        pv -= curtailed
            else:
                may_discharge = (
                    mode != "storage_priority"
                    and not charging_window
                    and in_window(settings.discharge_window, minute)
                )
                if may_discharge:
                    discharge = min(-surplus, max_discharge)
            if discharge == 0.0:
                headroom = min(limit_w, max_charge) - charge
                grid_charge = 0.0
                if charging_window:
                    # Spread the night charge to be full as the window closes, as a smart
                    # PCS does, rather than charging flat out at the window's start.
                    left_h = minutes_left(settings.charge_window, minute) / 60
                    needed_wh = (
                        max(0.0, (100 - self.soc_pct) / 100 * capacity_wh) - charge * eta * hours
                    )
                    grid_charge = needed_wh / max(left_h, hours, 1 / 60) / eta * 1.05
                elif mode == "storage_priority" and self.soc_pct < 99.5:
                    grid_charge = limit_w * 0.5
                charge += max(0.0, min(headroom, grid_charge))
            state = "running" if pv > 0 or charge > 0 or discharge > 0 else "standby"

        grid = load + charge - pv - discharge
        if hours > 0:
            stored_wh = self.soc_pct / 100 * capacity_wh
            stored_wh += (charge * eta - discharge / eta) * hours
            self.soc_pct = min(100.0, max(0.0, stored_wh / capacity_wh * 100))
            to_kwh = hours / 1000
            self.counters["pv_kwh"] += pv * to_kwh
            self.counters["load_kwh"] += load * to_kwh
            self.counters["grid_import_kwh"] += max(grid, 0.0) * to_kwh
            self.counters["grid_export_kwh"] += max(-grid, 0.0) * to_kwh
            self.counters["charge_kwh"] += charge * to_kwh
            self.counters["discharge_kwh"] += discharge * to_kwh
            environment = self._battery_environment(hour)
            # Cell losses warm the pack: some degrees at full power, settling over hours.
            target = environment + 6.0 * (charge + discharge) / limit_w
            if self.overheating:
                target += 32.0
            self.battery_temp_c = target + (self.battery_temp_c - target) * math.exp(-dt / 5400)
        return Reading(
            t=self.t,
            pv_w=pv,
            load_w=load,
            grid_w=grid,
            battery_w=discharge - charge,
            soc_pct=self.soc_pct,
            battery_temp_c=self.battery_temp_c,
            pcs_state=state,
            pcs_mode=settings.mode,
            curtailed_w=curtailed,
            counters=dict(self.counters),
        )
