"""The settings a gateway can be told to change, and each model's ranges for them
(docs/gateway-protocol.md, sections 2.5 and 5). Messages are Japanese: the monitoring
site shows them next to the field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import models

MODES = {"economy": "経済モード", "green": "グリーンモード", "storage_priority": "蓄電優先モード"}


class Setting(models.TextChoices):
    MODE = "mode", "運転モード"
    CHARGE_WINDOW = "charge_window", "充電時間帯"
    DISCHARGE_WINDOW = "discharge_window", "放電時間帯"
    RESERVE_SOC = "reserve_soc_pct", "停電時用の蓄電残量"
    EXPORT_LIMIT = "export_limit_w", "売電上限"


@dataclass(frozen=True)
class ModelSettings:
    description: str
    reserve_min: int
    reserve_max: int
    reserve_step: int
    export_limit_max_w: int
    # The PCS rating: the most the model converts in either direction (PV, battery, export).
    # The energy rollups bound each counter's growth by it (telemetry.rollups).
    power_kw: float


SCHEMAS: dict[str, ModelSettings] = {
    "KP-GWBT-A": ModelSettings("住宅用 9.8kWh / 5.9kW", 0, 100, 10, 5_900, 5.9),
    "KP-GWBT-C": ModelSettings("産業用 49.5kWh / 20kW", 10, 100, 5, 20_000, 20.0),
}
# A model essmon does not know yet still gets commands, within what the protocol allows;
# its rating is the protocol's power limit (±100,000 W).
GENERIC = ModelSettings("", 0, 100, 1, 100_000, 100.0)
# The most a site draws from the grid, for any model: the protocol's grid_w limit. Generous
# on purpose (a Japanese low-voltage supply contract ends at 50 kW): the bound is there to
# catch counters that jump by thousands of kWh, not to judge a household's wiring.
SUPPLY_KW = 100.0


class SettingError(ValueError):
    """A setting value this gateway's model does not accept; the message is for the user."""


def schema_for(model: str) -> ModelSettings:
    return SCHEMAS.get(model, GENERIC)


def validate_setting(model: str, setting: str, value: object) -> object:
    """``value`` checked against ``model``'s ranges, in the form sent to the gateway."""
    schema = schema_for(model)
    if setting == Setting.MODE:
        if value not in MODES:
            raise SettingError(
                "運転モードは経済モード、グリーンモード、蓄電優先モードから選んでください。"
            )
        return value
    if setting in (Setting.CHARGE_WINDOW, Setting.DISCHARGE_WINDOW):
        return _window(Setting(setting).label, value)
    if setting == Setting.RESERVE_SOC:
        number = _whole_number(value, Setting.RESERVE_SOC.label)
        if not schema.reserve_min <= number <= schema.reserve_max:
            raise SettingError(
                f"停電時用の蓄電残量は{schema.reserve_min}〜{schema.reserve_max}%で指定してください。"
            )
        if (number - schema.reserve_min) % schema.reserve_step:
            raise SettingError(
                f"停電時用の蓄電残量は{schema.reserve_step}%単位で指定してください。"
            )
        return number
    if setting == Setting.EXPORT_LIMIT:
        number = _whole_number(value, Setting.EXPORT_LIMIT.label)
        if not 0 <= number <= schema.export_limit_max_w:
            raise SettingError(f"売電上限は0〜{schema.export_limit_max_w:,}Wで指定してください。")
        return number
    raise SettingError(f"「{setting}」は変更できる設定ではありません。")


def _whole_number(value: object, label: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise SettingError(f"{label}は整数で指定してください。")
    return int(value)


def _window(label: str, value: object) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise SettingError(f"{label}は開始時刻と終了時刻で指定してください。")
    start, end = (_hhmm(label, v) for v in value)
    if start == end:
        raise SettingError(f"{label}の開始時刻と終了時刻は別の時刻にしてください。")
    return [start, end]


def _hhmm(label: str, value: object) -> str:
    hours, _, minutes = str(value).partition(":")
    if not (
        isinstance(value, str)
        and len(hours) == 2
        and len(minutes) == 2
        and hours.isascii()
        and minutes.isascii()
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    ):
        raise SettingError(f"{label}の時刻は「07:00」のように24時間制で指定してください。")
    return value
