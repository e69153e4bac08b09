"""The product catalogue's warranty terms, keyed by the gateway model (形式).

Kept in code rather than in a table: a term is part of the sale contract, so a change goes
through review and the repository's history is its audit trail. Changing the term of a model
already sold changes the end date shown for every such system; give a new product a new
model name instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """Warranty years of the battery and power conditioner of one product."""

    product: str
    standard_years: int
    extended_years: int


CATALOGUE: dict[str, Term] = {
    "KP-GWBT-A": Term("住宅用蓄電システム", standard_years=10, extended_years=15),
    "KP-GWBT-C": Term("産業用蓄電システム", standard_years=10, extended_years=15),
}
# The product's warranty terms: a gateway model missing from the catalogue is not left without warranty.
DEFAULT_TERM = Term("蓄電システム", standard_years=10, extended_years=15)


def term_for(model: str) -> Term:
    return CATALOGUE.get(model, DEFAULT_TERM)
