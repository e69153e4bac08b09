"""Before and after in one run: a measurement made round for round, in turn, in this
checkout and in another (its own ``essmon``, against its own database), each round in a
process of its own. Used by benchmarks/batch.py and benchmarks/https_request.py.

With ``--instructions`` each round also runs under valgrind's callgrind, counting the
instructions this process executes in the timed part only (``instrumented``): on a
machine other work shares, a figure that load does not move (the CPU times do, by half
and more). It counts this process alone, not PostgreSQL's, and runs some fifty times
slower: use fewer messages or requests."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--base", type=Path, help="another checkout to measure in turn")
    parser.add_argument("--base-database", help="its database (ESSMON_DATABASE_URL)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top frames")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions too (valgrind)"
    )
    parser.add_argument("--one-round", type=Path, help=argparse.SUPPRESS)  # essmon's root


def one_round(args: argparse.Namespace, measure: Callable[[], dict[str, float]]) -> bool:
    """In a round's own process (``--one-round``): measure against the essmon of the
    checkout named and print the figures for the parent; whether this was one."""
    if args.one_round is None:
        return False
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(args.one_round))
    print(json.dumps(measure()))
    return True


def run_rounds(
    script: str,
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    *,
    passed: list[str],
    describe: Callable[[dict[str, float]], str],
    variants: dict[str, list[str]] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """``args.rounds`` rounds of ``script`` (with the options ``passed``) in this checkout
    and, with ``--base``, the other one, in turn; each round's figures as it ends.
    ``variants`` adds rounds of this checkout with further options, by name."""
    if args.base is not None and not args.base_database:
        parser.error("--base needs --base-database")
    database = os.environ.get("ESSMON_DATABASE_URL")
    checkouts = {"this checkout": (HERE.parent, database, [])}
    for name, options in (variants or {}).items():
        checkouts[name] = (HERE.parent, database, options)
    if args.base is not None:
        checkouts[f"base {args.base}"] = (args.base.resolve(), args.base_database, [])
    if args.instructions and not shutil.which("valgrind"):
        parser.error("--instructions needs valgrind (Debian: apt-get install valgrind)")
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    folder = Path(tempfile.mkdtemp(prefix="essmon-checkouts-"))
    try:
        for number in range(args.rounds):
            for name, (root, database, options) in checkouts.items():
                env = {**os.environ, "ESSMON_DATABASE_URL": database or ""}
                command = [sys.executable, script, "--one-round", str(root), *passed, *options]
                command += ["--profile"] * args.profile
                counts = folder / f"{number}-{len(figures[name])}-{root.name}.callgrind"
                if args.instructions:
                    env[CALLGRIND] = "1"
                    command = [
                        *("valgrind", "--tool=callgrind", "--instr-atstart=no"),
                        f"--callgrind-out-file={counts}",
                        *command,
                    ]
                done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{name}: {done.stderr.strip() or done.stdout.strip()}")
                *profile_lines, result = done.stdout.strip().splitlines()
                if args.profile:
                    print("\n".join(profile_lines))
                row = json.loads(result)
                told = describe(row)
                if args.instructions:
                    row["instructions"] = _instructions(counts) / row["units"]
                    told += f"; {row['instructions']:,.0f} instructions"
                figures[name].append(row)
                print(f"round {number + 1} {name}: {told}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures


CALLGRIND = "ESSMON_BENCH_CALLGRIND"


def _instrumented(on: bool) -> None:
    """Under ``--instructions``: start (or stop) counting this process's instructions."""
    if os.environ.get(CALLGRIND):
        command = ["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())]
        subprocess.run(command, capture_output=True, check=True)


@contextmanager
def timed_part(profile: bool) -> Iterator[dict[str, float]]:
    """Around a round's timed part: its CPU seconds (``time.process_time``) and wall
    seconds come in the dict as ``cpu`` and ``wall``; only it is counted under
    ``--instructions``, and profiled (printed at the end) with ``--profile``."""
    profiler = cProfile.Profile()
    spent: dict[str, float] = {}
    _instrumented(True)
    wall, cpu = time.perf_counter(), time.process_time()
    if profile:
        profiler.enable()
    try:
        yield spent
    finally:
        profiler.disable()
        spent.update(cpu=time.process_time() - cpu, wall=time.perf_counter() - wall)
        _instrumented(False)
    if profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def _instructions(counts: Path) -> int:
    for line in counts.read_text().splitlines():
        if line.startswith("totals:"):  # "summary:" counts from the start, with none then
            return int(line.split()[1])
    raise RuntimeError(f"no instruction count in {counts}")


def median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def print_medians(
    figures: dict[str, list[dict[str, float]]],
    columns: list[tuple[str, str, str]],
    *,
    instructions: bool,
) -> None:
    """A row per checkout: the median of its rounds in each column (title, key, format)."""
    if instructions:
        columns = [*columns, ("instructions", "instructions", ",.0f")]
        print(
            "(under valgrind: its CPU times are many times the native ones; read the instructions)"
        )
    widths = [max(len(title), 11) for title, _, _ in columns]
    print(f"{'':40}" + "".join(f" {t:>{w}}" for (t, _, _), w in zip(columns, widths, strict=True)))
    for name, rounds in figures.items():
        cells = (
            f" {median(rounds, key):>{w}{fmt}}"
            for (_, key, fmt), w in zip(columns, widths, strict=True)
        )
        print(f"{name[:40]:40}" + "".join(cells))


def backend_cpu(pid: int) -> float:
    """Seconds of CPU a process (a PostgreSQL backend on this machine) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def remove_gateways(prefix: str) -> None:
    """The script's gateways (IDs starting with ``prefix``), their samples and states."""
    from essmon.gateways.models import Gateway
    from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState, Sample

    ids = list(Gateway.objects.filter(gateway_id__startswith=prefix).values_list("pk", flat=True))
    for model in (Sample, GatewayLiveState, ConnectivityInterval):
        model.objects.filter(gateway_id__in=ids).delete()
    Gateway.objects.filter(pk__in=ids).delete()
