"""Cells of CSV files people open in spreadsheet software.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return,
which some programs skip before reading the rest) is taken for a formula by Excel and
LibreOffice: a 案件名 typed as ``=HYPERLINK(...)`` would become a live link in a dealer's
spreadsheet (CSV injection). Such text gets a leading apostrophe, which spreadsheet
software shows as text and people read past. The full-width forms are escaped too, as
some spreadsheet software folds them to ASCII. Numbers are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet reads it as text: a string that would start a formula
    gets a leading apostrophe; anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[object]) -> list[object]:
    return [safe_cell(value) for value in values]
