"""Control characters in free text: refused where text comes in, removed where it goes out.

A CR or LF in a 案件名 ends up in a mail subject, where Django's header-injection guard
refuses the whole mail on every retry. Other control characters break CSV cells and
log lines, and lone surrogates cannot even be written as UTF-8. So every text field
refuses them (a textarea keeps its line breaks and tabs), and text put into a mail
header has them replaced, for rows stored before the rule.

The bidirectional controls are refused alike, with a message of their own: invisible,
they make what follows them show in another order than it is stored (after U+202E
「御室邸」 can read 「邸室御」), so a 案件名, a name or a comment could show one thing to
the operator, the dealer or a mail's reader and be another, and two names that look the
same could differ.
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

# The embeddings and overrides (U+202A-U+202E), the isolates (U+2066-U+2069) and the
# marks (LRM U+200E, RLM U+200F, ALM U+061C). No script the service is written for needs
# them, and a mark alone is enough to disguise: it turns a neighbouring run of digits or
# Latin letters around, and hides in a name that then looks like another.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
BIDI_RE = re.compile(f"[{_BIDI}]")

CONTROL_MESSAGE = (
    "使用できない制御文字(改行・タブなど)が含まれています。取り除いてから入力してください。"
)
CONTROL_MESSAGE_MULTILINE = "使用できない制御文字が含まれています。取り除いてから入力してください。"
BIDI_MESSAGE = (
    "文字の表示の向きを変える制御文字(画面には見えない文字。文章を貼り付けたときに"
    "紛れ込むことがあります)が含まれています。取り除いてから入力してください。"
)


def has_control_chars(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds a character no text field takes (bidirectional controls
    included)."""
    return control_message(value, multiline=multiline) is not None


def control_message(value: str, *, multiline: bool = False) -> str | None:
    """The message refusing ``value``, or None where it may be taken."""
    if BIDI_RE.search(value):
        return BIDI_MESSAGE
    pattern = CONTROL_MULTILINE_RE if multiline else CONTROL_RE
    if pattern.search(value):
        return CONTROL_MESSAGE_MULTILINE if multiline else CONTROL_MESSAGE
    return None


def validate_single_line(value: object) -> None:
    if isinstance(value, str) and (message := control_message(value)) is not None:
        raise ValidationError(message, code="control_characters")


def validate_multiline(value: object) -> None:
    if isinstance(value, str) and (message := control_message(value, multiline=True)):
        raise ValidationError(message, code="control_characters")


def one_line(value: str) -> str:
    """``value`` with every control character (line breaks too) made a space, runs of
    spaces made one, and bidirectional controls dropped (they only reorder what is shown):
    safe for a mail header whatever was stored."""
    return " ".join(CONTROL_RE.sub(" ", BIDI_RE.sub("", value)).split())


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
