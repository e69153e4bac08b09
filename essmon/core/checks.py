"""Deployment checks of what people are told: a production site must not show the demo's
support contact, nor ask people to allow mail from a sender that cannot exist; and of what
it may reach: webhooks must not be let into the service's own network."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Warning, register

from essmon.core.contact import mail_sender

SUPPORT_VARIABLES = (
    "ESSMON_SUPPORT_NAME",
    "ESSMON_SUPPORT_PHONE",
    "ESSMON_SUPPORT_HOURS",
    "ESSMON_SUPPORT_URL",
)


@register(deploy=True)
def contact_settings(app_configs, **kwargs) -> list[Warning]:
    problems = []
    unset = [name for name in SUPPORT_VARIABLES if not os.environ.get(name)]
    if unset:
        problems.append(
            Warning(
                f"{', '.join(unset)} not set: the footer, the manual, the error pages and "
                "every mail show the demo's fictitious support contact",
                hint="Set ESSMON_SUPPORT_NAME, _PHONE, _HOURS and _URL (docs/configuration.md).",
                id="essmon.W001",
            )
        )
    if mail_sender().domain.endswith((".invalid", ".example", ".test", ".localhost")):
        problems.append(
            Warning(
                f"ESSMON_FROM_EMAIL {settings.DEFAULT_FROM_EMAIL!r} is not a deliverable sender; "
                "people are asked to allow mail from it",
                id="essmon.W002",
            )
        )
    return problems


@register(deploy=True)
def webhook_settings(app_configs, **kwargs) -> list[Warning]:
    if not settings.WEBHOOK_ALLOW_HOSTS:
        return []
    return [
        Warning(
            f"ESSMON_WEBHOOK_ALLOW_HOSTS is set ({', '.join(settings.WEBHOOK_ALLOW_HOSTS)}): "
            "webhook endpoints on these hosts may use plain http and private or loopback "
            "addresses, which customers and dealers could point at the service's own network",
            hint="Leave ESSMON_WEBHOOK_ALLOW_HOSTS empty in production (docs/webhooks.md).",
            id="essmon.W003",
        )
    ]
