"""How the monitoring pages write powers, states and ages."""

from django import template

register = template.Library()

PCS_STATES = {"running": "運転中", "standby": "待機中", "stopped": "停止中", "fault": "異常"}


@register.filter
def watts(value: float | None) -> str:
    """Below 1 kW in watts, above in kilowatts with one decimal, as the gateway's own display."""
    if value is None:
        return "—"
    value = abs(float(value))
    if value < 1000:
        return f"{value:,.0f} W"
    return f"{value / 1000:,.1f} kW"


@register.filter
def kwh(value: float | None) -> str:
    """Energy with one decimal and thousands separators: 12,345.6 kWh."""
    if value is None:
        return "—"
    return f"{float(value):,.1f} kWh"


@register.filter
def pcs_state(value: str | None) -> str:
    return PCS_STATES.get(value or "", "—")


@register.filter
def minutes_ja(minutes: int | None) -> str:
    if minutes is None:
        return ""
    if minutes < 60:
        return f"{minutes}分"
    hours = minutes // 60
    if hours < 48:
        return f"約{hours}時間"
    return f"約{hours // 24}日"
