from django import template

from essmon.core.japanese import format_phone, format_postal_code

register = template.Library()


@register.filter
def postal(value: str) -> str:
    return format_postal_code(value or "")


@register.filter
def phone(value: str) -> str:
    return format_phone(value or "")


@register.filter
def mask(value: str) -> str:
    return "●" * len(value or "")
