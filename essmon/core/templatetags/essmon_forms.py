"""The error summary of a refused form (templates/_error_summary.html)."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms, template

register = template.Library()


@dataclass(frozen=True)
class FieldError:
    target: str  # the id of the input the summary's link moves to
    label: str
    message: str


@dataclass(frozen=True)
class ErrorSummary:
    general: list[str]  # not about one field: said as they are, without a link
    fields: list[FieldError]

    def __bool__(self) -> bool:
        return bool(self.general or self.fields)


def _target(bound: forms.BoundField) -> str:
    # a group of radios or check boxes has no input of its own id: its first option
    if bound.use_fieldset:
        return f"{bound.auto_id}_0"
    return bound.id_for_label


@register.simple_tag
def error_summary(form: object) -> ErrorSummary:
    """Every error of ``form``, one entry per message, in the order of the fields."""
    if not isinstance(form, forms.BaseForm) or not form.errors:
        return ErrorSummary([], [])
    general = [str(m) for m in form.non_field_errors()]
    fields: list[FieldError] = []
    for bound in form:
        if bound.is_hidden or not bound.auto_id:
            general.extend(str(m) for m in bound.errors)
            continue
        fields.extend(FieldError(_target(bound), str(bound.label), str(m)) for m in bound.errors)
    return ErrorSummary(general, fields)
