"""The one-time value of a form whose answer shows a new secret once (an API access token,
a webhook's signing secret): the page carries a random value in a hidden ``once`` field,
the row made keeps it in its ``form_once`` column, and the same form sent again (the
browser's reload of the POST that showed the secret) finds it and makes nothing more.

The field, the column and the check are here, once, for every such page."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import forms
from django.db import models
from django.db.models import QuerySet

from essmon.core.text import SafeTextForm

# token_urlsafe(16) gives 22 characters; the column leaves room
ONCE_LENGTH = 32
_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{1,{ONCE_LENGTH}}}")


def new_once() -> str:
    return secrets.token_urlsafe(16)


class FormOnceField(forms.CharField):
    """The hidden ``once`` field. Never required, and never an error: a page opened before
    the deploy that added the field (a tab left open across it) sends none, and its holder
    must get what they asked for, not an error about a field they were never shown and
    cannot fill; so would a value that is not one of ours (too long, other characters),
    which only a hand-made request sends. Either is taken as no value: that one POST is
    unguarded against a reload, exactly as every POST was before the field existed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.HiddenInput)
        super().__init__(required=False, **kwargs)

    def clean(self, value: Any) -> str:
        # no validators: SafeTextForm's control-character rule would turn a bad value into
        # an error on a hidden field, which nobody can read or mend
        text = self.to_python(value) or ""
        return text if _SHAPE.fullmatch(text) else ""


class OnceForm(SafeTextForm):
    """The base of such a page's form: the ``once`` field, with a new value on every unbound
    form. Render ``{{ form.once }}`` inside the form."""

    once = FormOnceField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["once"] = new_once()


def form_once_column(verbose_name: str) -> models.CharField[str, str]:
    """The model's ``form_once`` column: the value of the form that made the row, or ""."""
    return models.CharField(verbose_name, max_length=ONCE_LENGTH, blank=True, default="")


def already_made(rows: QuerySet[Any], once: str) -> bool:
    """Whether one of ``rows`` (the holder's own rows, with a ``form_once`` column) was made
    by the form that carried ``once``. Ask inside the transaction that holds the holder's
    row lock, so that two sendings of one form at once see each other."""
    return bool(once) and rows.filter(form_once=once).exists()
