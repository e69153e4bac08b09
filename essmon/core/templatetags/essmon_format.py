from django import template

from essmon.core.japanese import compose_address, format_phone, format_postal_code
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


@register.simple_tag
def address(prefecture: str, city: str, rest: str) -> str:
    """The whole address on one line, as every screen and mail composes it."""
    return compose_address(prefecture or "", city or "", rest or "")


@register.simple_tag(takes_context=True)
def page_query(context: template.Context, number: int) -> str:
    """The query string of page ``number`` of the list on screen: the request's own
    parameters (the search, filters and sort the list was made with) with ``page``
    replaced, so every list's pager keeps what the user chose (templates/_pager.html)."""
    query = context["request"].GET.copy()
    query["page"] = str(number)
    return "?" + query.urlencode()
