"""The monitoring site's input: the remote settings form, one per gateway model, its ranges
taken from the model's schema (essmon.gateways.schema) so the form, the API and the gateway
agree; and the history's query string."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django import forms

from essmon.core.japanese import to_halfwidth_ascii
from essmon.core.text import SafeTextForm
from essmon.gateways.schema import MODES, Setting, SettingError, schema_for, validate_setting

WINDOWS = {
    Setting.CHARGE_WINDOW: ("charge_start", "charge_end"),
    Setting.DISCHARGE_WINDOW: ("discharge_start", "discharge_end"),
}


def _time_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=5,
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "step": 60}, format="%H:%M"),
    )


class SettingsForm(SafeTextForm):
    """Every field may be left as drawn: a command is made only for a setting whose value
    differs from ``basis``, the values the form was drawn from (posted back in a hidden
    field). So a page left open does not undo what someone else changed meanwhile, and
    choosing the old value again takes back a change that is still on its way."""

    mode = forms.ChoiceField(
        label=Setting.MODE.label,
        choices=list(MODES.items()),
        widget=forms.RadioSelect,
        required=False,
    )
    charge_start = _time_field("充電開始時刻")
    charge_end = _time_field("充電終了時刻")
    discharge_start = _time_field("放電開始時刻")
    discharge_end = _time_field("放電終了時刻")
    reserve_soc_pct = forms.IntegerField(
        label=f"{Setting.RESERVE_SOC.label}(%)",
        required=False,
        error_messages={"invalid": "停電時用の蓄電残量は整数で入力してください。"},
    )
    export_limit_w = forms.IntegerField(
        label=f"{Setting.EXPORT_LIMIT.label}(W)",
        required=False,
        error_messages={"invalid": "売電上限は整数で入力してください。"},
    )
    basis = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, model: str, shown: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema_for(model)
        self.model = model
        reserve = self.fields["reserve_soc_pct"]
        reserve.widget.attrs.update(
            min=self.schema.reserve_min, max=self.schema.reserve_max, step=self.schema.reserve_step
        )
        reserve.help_text = (
            f"{self.schema.reserve_min}〜{self.schema.reserve_max}%、"
            f"{self.schema.reserve_step}%単位。停電に備えて残しておく量です。"
        )
        export = self.fields["export_limit_w"]
        export.widget.attrs.update(min=0, max=self.schema.export_limit_max_w, step=1)
        export.help_text = f"0〜{self.schema.export_limit_max_w:,}W。0で売電しません。"
        if not self.is_bound:
            self.initial = {**initial_from(shown), "basis": json.dumps(shown)}

    def clean_basis(self) -> dict:
        try:
            basis = json.loads(self.cleaned_data["basis"] or "{}")
        except ValueError:
            basis = None
        if not isinstance(basis, dict):
            raise forms.ValidationError("画面を開き直してから、もう一度変更してください。")
        return basis

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        self.changes: dict[str, object] = {}
        if "basis" not in cleaned:
            return cleaned
        values = {
            Setting.MODE: cleaned.get("mode") or None,
            Setting.RESERVE_SOC: cleaned.get("reserve_soc_pct"),
            Setting.EXPORT_LIMIT: cleaned.get("export_limit_w"),
        }
        for setting, (start, end) in WINDOWS.items():
            pair = [
                to_halfwidth_ascii(cleaned.get(start) or "").strip(),
                to_halfwidth_ascii(cleaned.get(end) or "").strip(),
            ]
            if all(pair):
                values[setting] = pair
            elif any(pair):
                missing = end if pair[0] else start
                self.add_error(
                    missing, f"{setting.label}は開始時刻と終了時刻の両方を入力してください。"
                )
        for setting, value in values.items():
            if value is None:
                continue  # left empty: unchanged (or the field's own error is shown)
            try:
                clean = validate_setting(self.model, setting, value)
            except SettingError as exc:
                self.add_error(FIELD_OF.get(setting) or WINDOWS[setting][0], str(exc))
                continue
            if cleaned["basis"].get(setting.value) != clean:
                self.changes[setting.value] = clean
        if not self.errors and not self.changes:
            raise forms.ValidationError("変更された設定はありません。")
        return cleaned


FIELD_OF = {
    Setting.MODE: "mode",
    Setting.RESERVE_SOC: "reserve_soc_pct",
    Setting.EXPORT_LIMIT: "export_limit_w",
}


def initial_from(in_force: dict) -> dict:
    initial = {
        "mode": in_force.get("mode"),
        "reserve_soc_pct": in_force.get("reserve_soc_pct"),
        "export_limit_w": in_force.get("export_limit_w"),
    }
    for setting, (start, end) in WINDOWS.items():
        window = in_force.get(setting.value) or [None, None]
        initial[start], initial[end] = window
    return initial


def describe_value(setting: str, value: object) -> str:
    """A setting's value as people read it, for the page and the audit log."""
    if value is None:
        return "—"
    if setting == Setting.MODE:
        return MODES.get(str(value), str(value))
    if setting in WINDOWS and isinstance(value, list | tuple) and len(value) == 2:
        return f"{value[0]}〜{value[1]}"
    if setting == Setting.RESERVE_SOC:
        return f"{value}%"
    if setting == Setting.EXPORT_LIMIT and isinstance(value, int | float):
        return f"{value:,.0f}W"
    return str(value)


# --- the history's query string ----------------------------------------------------------

VIEWS = ("day", "month", "year", "lifetime")
EARLIEST = date(2000, 1, 1)


def parse_history(view: str | None, day: str | None, *, today: date) -> tuple[str, date]:
    """The history's view and anchor date from the query string; ValueError says which part
    is wrong (precise, for the CSV and data endpoints' 400 answers)."""
    view = view or "day"
    if view not in VIEWS:
        raise ValueError(f"view: {view!r} is not one of {', '.join(VIEWS)}")
    if not day:
        return view, today
    try:
        anchor = date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"date: {day!r} is not a date like 2026-11-24") from None
    if not EARLIEST <= anchor <= today:
        raise ValueError(f"date: {day} is outside {EARLIEST} to {today}")
    return view, anchor


def shift(view: str, anchor: date, steps: int) -> date:
    """The anchor of the previous (-1) or next (+1) day, month or year."""
    if view == "day":
        return anchor + timedelta(days=steps)
    if view == "month":
        months = anchor.year * 12 + anchor.month - 1 + steps
        return date(months // 12, months % 12 + 1, 1)
    if view == "year":
        return date(anchor.year + steps, 1, 1)
    return anchor
