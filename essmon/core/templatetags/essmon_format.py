from django import template

from essmon.core.japanese import format_phone, format_postal_code
from essmon.core.text import one_line

register = template.Library()


@register.filter
def postal(value: str) -> str:
    return format_postal_code(value or "")


@register.filter
def phone(value: str) -> str:
    return format_phone(value or "")


@register.filter
def oneline(value) -> str:
    """Stored text on one line, for a mail's subject line (rows from before the rule)."""
    return one_line(str(value))
