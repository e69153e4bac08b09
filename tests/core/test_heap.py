"""The garbage collector as essmon's long-running processes set it (essmon/core/heap.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from essmon.core.heap import YOUNG_GENERATION_THRESHOLD, settle_after_startup

pytestmark = pytest.mark.engine_independent


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settling_freezes_what_start_up_made_and_waits_longer_to_collect(restored_collector):
    before = gc.get_threshold()
    settle_after_startup()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *before[1:])


def test_a_cycle_is_still_collected_after_settling(restored_collector):
    settle_after_startup()

    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle reference counting cannot free
    watch = weakref.ref(first)
    del first, second
    gc.collect()
    assert watch() is None


@pytest.mark.parametrize("module", ["essmon.wsgi"])
def test_the_web_processes_settle_once_django_is_up(module):
    code = (
        "import gc, os; os.environ.setdefault('ESSMON_SECRET_KEY', 'x' * 50);"
        f"import {module}; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(YOUNG_GENERATION_THRESHOLD), "True"]
