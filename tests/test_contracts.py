"""Contracts between the code and what describes it (issue 13): one home for each fact,
every management command's help, every setting documented, the generated docs current."""

from __future__ import annotations

import pytest

from essmon.commands.schema import MODES, Setting
from essmon.core.jst import JST
from essmon.simulator import physics
from essmon.telemetry.models import COUNTERS

# --- one home for each fact ----------------------------------------------------------------


def test_the_simulator_speaks_the_services_names():
    """The simulator imports nothing of the service, so it keeps a copy of the protocol's
    names: the copy must agree with the service's one home of each."""
    assert physics.COUNTERS == COUNTERS
    assert tuple(Setting.values) == physics.SETTING_NAMES
    assert tuple(MODES) == physics.MODES
    when = physics.datetime(2026, 1, 1, 12)
    assert when.replace(tzinfo=physics.JST).utcoffset() == when.replace(tzinfo=JST).utcoffset()


@pytest.mark.parametrize("module", ["essmon.telemetry.rollups", "essmon.monitoring.services"])
def test_counters_have_one_home(module):
    import importlib

    assert importlib.import_module(module).COUNTERS is COUNTERS
