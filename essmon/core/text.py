"""Control characters in free text: refused where text comes in, removed where it goes out.

A CR or LF in a 案件名 ends up in a mail subject, where Django's header-injection guard
refuses the whole mail on every retry. Other control characters break CSV cells and
log lines, and lone surrogates cannot even be written as UTF-8. So every text field
refuses them (a textarea keeps its line breaks and tabs), and text put into a mail
header has them replaced, for rows stored before the rule.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

if TYPE_CHECKING:  # what the mixins below are mixed into, for the type checker
    _FormBase = forms.BaseForm
    _AdminBase = admin.options.BaseModelAdmin[Any]
else:
    _FormBase = _AdminBase = object

# C0 controls, DEL, C1 controls, and the surrogate code points (never valid alone in UTF-8).
_CONTROL = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
CONTROL_RE = re.compile(f"[{_CONTROL}]")
# A textarea's text may span lines and hold tabs: CR, LF and TAB are allowed there.
CONTROL_MULTILINE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

CONTROL_MESSAGE = (
    "使用できない制御文字(改行・タブなど)が含まれています。取り除いてから入力してください。"
)
CONTROL_MESSAGE_MULTILINE = "使用できない制御文字が含まれています。取り除いてから入力してください。"


def has_control_chars(value: str, *, multiline: bool = False) -> bool:
    pattern = CONTROL_MULTILINE_RE if multiline else CONTROL_RE
    return bool(pattern.search(value))


def validate_single_line(value: object) -> None:
    if isinstance(value, str) and has_control_chars(value):
        raise ValidationError(CONTROL_MESSAGE, code="control_characters")


def validate_multiline(value: object) -> None:
    if isinstance(value, str) and has_control_chars(value, multiline=True):
        raise ValidationError(CONTROL_MESSAGE_MULTILINE, code="control_characters")


def one_line(value: str) -> str:
    """``value`` with every control character (line breaks too) made a space, runs of
    spaces made one: safe for a mail header whatever was stored."""
    return " ".join(CONTROL_RE.sub(" ", value).split())


def guard_text_field(field: forms.Field) -> None:
    """Make a form field refuse control characters (NUL included, in Japanese)."""
    if not isinstance(field, forms.CharField) or isinstance(field.widget, forms.PasswordInput):
        # a password is never shown or mailed; refusing one would lock its owner out
        return
    multiline = isinstance(field.widget, forms.Textarea)
    validator = validate_multiline if multiline else validate_single_line
    if validator in field.validators:
        return
    # ours covers NUL with a Japanese message; Django's would add a second, English one
    field.validators = [
        v for v in field.validators if not isinstance(v, ProhibitNullCharactersValidator)
    ]
    field.validators.append(validator)


class SafeTextMixin(_FormBase):
    """For forms built on Django's own (password reset): the rule of :class:`SafeTextForm`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            guard_text_field(field)


class SafeTextForm(SafeTextMixin, forms.Form):
    """The base of every essmon form: no text field takes control characters."""


class SafeTextAdminMixin(_AdminBase):
    """For every ModelAdmin and inline: the admin's text fields follow the same rule."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None:
            guard_text_field(field)
        return field


class SafeTextAdmin(SafeTextAdminMixin, admin.ModelAdmin):
    pass


class SafeTextInline(SafeTextAdminMixin, admin.TabularInline):
    pass
