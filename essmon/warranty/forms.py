"""The dates form: 系統連系日 and 受取日, each optional (a customer may know only one yet)."""

from __future__ import annotations

import re
from datetime import date

from django import forms
from django.utils import timezone

from essmon.core.japanese import to_halfwidth_ascii
from essmon.core.jst import JST
from essmon.core.text import SafeTextForm

EARLIEST = date(2000, 1, 1)
# What people type where the browser shows no date picker: 2024-03-15, 2024/3/15, 2024.3.15,
# 2024年3月15日, in either width.
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class JapaneseDateField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "date", "min": EARLIEST.isoformat()}, format="%Y-%m-%d")

    def to_python(self, value):
        if isinstance(value, date) or value in self.empty_values:
            return super().to_python(value)
        match = _DATE.match(to_halfwidth_ascii(str(value)).strip())
        if not match:
            raise forms.ValidationError(
                "日付は「2024-03-15」または「2024/3/15」の形で入力してください。", code="invalid"
            )
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            raise forms.ValidationError("その日付は存在しません。", code="invalid") from None


class WarrantyDatesFields(SafeTextForm):
    """系統連系日 and 受取日, each optional, neither in the future nor before 2000. No order
    between them: a new house is often connected by its builder before it is handed over,
    and a product may arrive weeks before the installer connects it (docs/warranty.md)."""

    grid_connection_date = JapaneseDateField(
        label="系統連系日",
        required=False,
        help_text="電力会社の系統に連系(接続)した日です。連系の通知書や販売店様にご確認ください。",
    )
    received_date = JapaneseDateField(
        label="受取日",
        required=False,
        help_text="蓄電システムを受け取った(引き渡しを受けた)日です。",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.localtime(timezone.now(), JST).date().isoformat()
        for name in ("grid_connection_date", "received_date"):
            self.fields[name].widget.attrs["max"] = today

    def _check(self, name: str, label: str) -> date | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        today = timezone.localtime(timezone.now(), JST).date()
        if value > today:
            raise forms.ValidationError(f"{label}に未来の日付は入力できません。")
        if value < EARLIEST:
            raise forms.ValidationError(f"{label}は2000年1月1日以降の日付を入力してください。")
        return value

    def clean_grid_connection_date(self) -> date | None:
        return self._check("grid_connection_date", "系統連系日")

    def clean_received_date(self) -> date | None:
        return self._check("received_date", "受取日")


class WarrantyDatesForm(WarrantyDatesFields):
    """The 保証 tab's form."""
