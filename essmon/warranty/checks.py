"""The warranty settings are checked at start-up, so a typo fails loudly, not at 3 a.m."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def warranty_settings(app_configs, **kwargs) -> list[Error]:
    from essmon.warranty.selectors import parse_warn_days

    lapse = settings.WARRANTY_LAPSE_DAYS
    try:
        warn = parse_warn_days(settings.WARRANTY_WARN_DAYS)
    except ValueError:
        return [
            Error("ESSMON_WARRANTY_WARN_DAYS must be whole days, like 7,21", id="warranty.E001")
        ]
    if lapse < 1:
        return [Error("ESSMON_WARRANTY_LAPSE_DAYS must be at least 1", id="warranty.E002")]
    if any(day < 1 or day >= lapse for day in warn):
        # a warning on or after the lapse would announce a risk that has already come true
        return [
            Error(
                "ESSMON_WARRANTY_WARN_DAYS must be between 1 and ESSMON_WARRANTY_LAPSE_DAYS - 1",
                id="warranty.E003",
            )
        ]
    return []
