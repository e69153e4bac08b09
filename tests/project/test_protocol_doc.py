"""docs/gateway-protocol.md says what the code does: the fault catalogue table is the one
the migration loads."""

import importlib
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway-protocol.md"


def test_the_fault_catalogue_table_is_the_shipped_catalogue():
    text = DOC.read_text()
    table = re.search(r"<!-- fault-catalogue:.*?-->\n(.*?)<!-- /fault-catalogue -->", text, re.S)
    assert table, "the fault catalogue table is missing from the protocol doc"
    documented = re.findall(r"^\| `(\w+)` \| `(\w+)` \| (.+?) \|$", table.group(1), re.M)
    catalogue = importlib.import_module("essmon.alerts.migrations.0002_fault_catalogue")
    assert documented == [(c, s, t) for c, s, t, _, _ in catalogue.CATALOGUE]
