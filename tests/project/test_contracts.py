"""Contracts between the code and what describes it (issue 13): one home for each fact,
every management command's help, every setting documented, the generated docs current."""

from __future__ import annotations

import pytest

from essmon.core.jst import JST
from essmon.gateways.schema import MODES, Setting
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


@pytest.mark.parametrize("module", ["essmon.telemetry.rollups", "essmon.monitoring.selectors"])
def test_counters_have_one_home(module):
    import importlib

    assert importlib.import_module(module).COUNTERS is COUNTERS


# --- the docs ------------------------------------------------------------------------------


def test_the_generated_docs_agree_with_the_code():
    """The scheduler's jobs and the URL list in the docs are made from the code by
    `essmon docs --write`; a change to either without the docs fails here."""
    from essmon.core import docgen

    stale = [str(doc.relative_to(docgen.ROOT)) for doc in docgen.stale_docs()]
    assert stale == [], "run: essmon docs --write"


def test_the_jobs_table_lists_every_job():
    from essmon.core import docgen
    from essmon.core.scheduler import JOBS

    table = docgen.jobs_table()
    assert len(table.splitlines()) == 2 + len(JOBS)
    for job in JOBS:
        assert f"| `{job.name}` |" in table
        assert job.does, f"{job.name}: say what it does (Job.does), for the docs"


def test_every_job_names_a_function_that_exists():
    """JOBS names its functions as strings (core cannot import the apps above it), so a
    module moved without its job path would fail only when the job first ran."""
    from django.utils.module_loading import import_string

    from essmon.core.scheduler import JOBS

    for job in JOBS:
        assert callable(import_string(job.func_path)), job.name


def test_a_changed_job_makes_the_docs_stale(monkeypatch):
    from essmon.core import docgen, scheduler

    extra = scheduler.Job("new-job", scheduler.timedelta(minutes=2), scheduler.JOBS[0].func_path)
    monkeypatch.setattr(scheduler, "JOBS", (*scheduler.JOBS, extra))
    assert docgen.CONFIGURATION.parent / "architecture.md" in docgen.stale_docs()


def test_every_setting_is_documented_with_its_default():
    """Every ESSMON_* variable the code reads has a row in docs/configuration.md whose
    default is the code's, and the docs name no variable the code does not read."""
    from essmon.core import docgen

    assert len(docgen.variables()) > 60
    assert docgen.settings_problems() == []


def test_an_undocumented_setting_is_found(monkeypatch, tmp_path):
    from essmon.core import docgen

    doc = tmp_path / "configuration.md"
    text = docgen.CONFIGURATION.read_text(encoding="utf-8")
    doc.write_text(
        text.replace(
            "| `ESSMON_OUTBOX_MAX_ATTEMPTS` | `12` |", "| `ESSMON_OUTBOX_MAX_ATTEMPTS` | `13` |"
        ).replace("| `ESSMON_ACTIVATION_DAYS` |", "| `ESSMON_ACTIVATION_DAY` |"),
        encoding="utf-8",
    )
    monkeypatch.setattr(docgen, "CONFIGURATION", doc)
    problems = "\n".join(docgen.settings_problems())
    assert "ESSMON_OUTBOX_MAX_ATTEMPTS: the code's default is '12'" in problems
    assert "ESSMON_ACTIVATION_DAYS (read in essmon/settings.py) has no row" in problems


def test_the_docs_name_only_files_in_the_repository():
    """Every file a doc or the code's comments point at is in the repository."""
    import re

    from essmon.core import docgen

    texts = [doc.read_text(encoding="utf-8") for doc in docgen.DOCS]
    texts += [p.read_text(encoding="utf-8") for p in docgen.PACKAGE.rglob("*.py")]
    named = set()
    for text in texts:
        named |= set(
            re.findall(r"(?<![\w/-])(?:docs|tests|essmon)/[\w/.-]+\.(?:md|py|html|js|css)", text)
        )
        named |= {f"docs/{m}" for m in re.findall(r"\]\(([\w-]+\.md)", text)}
    missing = sorted(n for n in named if not (docgen.ROOT / n).exists())
    assert missing == []
    outside = re.compile(
        r"\.\./shared|SEED-DIGEST|ARCHITECTURE\.md|STYLE\.md|the seed's|design brief"
    )
    assert [m.group() for t in texts for m in outside.finditer(t)] == []


def test_the_names_the_docs_give_exist():
    """A function, class or constant the docs name in a module of essmon
    (`telemetry.connectivity.offline_silence`, `core.scheduler.JOBS`) is there."""
    import importlib
    import importlib.util
    import re

    from essmon.core import docgen

    missing = []
    for doc in docgen.DOCS:
        text = doc.read_text(encoding="utf-8")
        for dotted in set(
            re.findall(r"`(?:essmon\.)?([a-z_]+(?:\.[a-z_]+)+)\.([A-Za-z_]\w*)(?:\(\))?`", text)
        ):
            module, name = f"essmon.{dotted[0]}", dotted[1]
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:
                continue
            if spec is None or spec.submodule_search_locations is not None:
                continue  # not a module of ours (or a package: `telemetry.Sample` is a model)
            if not hasattr(importlib.import_module(module), name):
                missing.append(f"{doc.name}: {module}.{name}")
    assert missing == []


# --- management commands -------------------------------------------------------------------


def _essmon_commands() -> list[tuple[str, str]]:
    from django.core.management import get_commands

    return sorted((name, app) for name, app in get_commands().items() if app.startswith("essmon"))


@pytest.mark.parametrize(("name", "app"), _essmon_commands(), ids=lambda v: v)
def test_every_command_has_a_help_that_runs(name, app, capsys):
    from django.core.management import load_command_class

    command = load_command_class(app, name)
    parser = command.create_parser("essmon", name)
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"essmon {name}" in out
    assert command.help, f"essmon {name} has no help text"
