"""A py-spy recording of a worker, summed up as text: where its threads spend their time.

py-spy (``pip install py-spy``; not a project dependency) writes "raw" collapsed stacks,
one line per distinct stack: ``thread (tid): name;frame;frame;… count``, each frame
``function (file:line)``. Idle samples (threads blocked in a system call) are left out by
py-spy, so what is summed here is time on the CPU or waiting for the GIL.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def record(
    py_spy: str, pid: int, *, seconds: int, rate: int, output: Path, flags: list[str]
) -> subprocess.Popen:
    # left as written (fmt: skip): a command line, each option beside its value
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
         "--format", "raw", "--threads", "--full-filenames", "--output", str(output), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _short(path: str, root: str) -> str:
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker.startswith("/lib") else tail
    return path.removeprefix(root.rstrip("/") + "/")


def _function(frame: str, root: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['function']} ({_short(match['file'], root)})"


def summarize(raw: Path, *, seconds: float, rate: int, root: str, top: int = 25) -> str:
    """Per thread, then the functions with the most samples of their own (self) and those
    most often on the stack (inclusive), each as a share of one CPU over the recording.
    The inclusive list leaves out each thread's trunk (the frames in all of its samples:
    the command line, the run loop), which would only repeat the thread's total."""
    wall = seconds * rate  # the samples one thread busy all along would have
    threads: Counter = Counter()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    per_thread: dict[str, Counter] = {}
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, _, frames_text = stack.partition(";")
        # "thread (1234): MainThread" – the tid differs between runs, the name does not
        name = thread.split(": ", 1)[-1]
        threads[name] += count
        frames = [_function(f, root) for f in frames_text.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += count
        for function in set(frames):  # a recursive function counts once per sample
            inclusive[function] += count
            per_thread.setdefault(name, Counter())[function] += count
    trunk = {f for name, seen in per_thread.items() for f, n in seen.items() if n == threads[name]}
    for function in trunk:
        del inclusive[function]
    total = sum(threads.values())
    lines = [
        f"py-spy: {total} busy samples in {seconds:.0f} s at {rate} Hz "
        f"(100 % = one CPU for the whole recording)",
        "threads:",
        *(f"  {100 * n / wall:6.1f} %  {name}" for name, n in threads.most_common()),
        f"top {top} by own time:",
        *(f"  {100 * n / wall:6.1f} %  {name}" for name, n in own.most_common(top)),
        f"top {top} inclusive (on the stack):",
        *(f"  {100 * n / wall:6.1f} %  {name}" for name, n in inclusive.most_common(top)),
    ]
    return "\n".join(lines)
