"""``essmon serve``'s supervisor: a child that exits is started again, with a pause that
grows while it keeps failing and is quick again once it has run a while."""

import sys

from essmon.core.supervise import FIRST_DELAY, MAX_DELAY, Child, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


EXIT_3 = [sys.executable, "-c", "import sys; sys.exit(3)"]


def test_a_failing_child_is_restarted_with_a_growing_pause():
    clock, said = Clock(), []
    child = Child("worker", EXIT_3)
    supervisor = Supervisor([child], clock=clock, say=said.append)
    supervisor.start()
    child.process.wait()
    delays = []
    for _ in range(9):
        supervisor.check()  # notices the exit
        assert child.due_at is not None
        delays.append(child.due_at - clock.now)
        clock.now = child.due_at - 0.01
        supervisor.check()
        assert child.due_at is not None, "started before its pause was over"
        clock.now = child.due_at
        supervisor.check()  # starts it again
        child.process.wait()
    assert delays[:4] == [FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY, 8 * FIRST_DELAY]
    assert max(delays) == MAX_DELAY
    assert child.restarts == 9 and child.exits == [3] * 9
    assert said[0] == "worker exited with 3; starting it again in 1s"
    assert said[1] == "worker: starting again (restart 1)"


def test_a_child_that_ran_a_while_restarts_quickly_again():
    clock = Clock()
    child = Child("scheduler", EXIT_3)
    supervisor = Supervisor([child], clock=clock, say=lambda line: None)
    supervisor.start()
    child.delay = 32.0  # after a run of failures
    clock.now = 3600.0  # but this run lasted an hour
    child.process.wait()
    supervisor.check()
    assert child.due_at == 3600.0 + FIRST_DELAY


def test_an_optional_child_is_not_restarted():
    said = []
    child = Child("simulator", EXIT_3, restart=False)
    supervisor = Supervisor([child], say=said.append)
    supervisor.start()
    child.process.wait()
    supervisor.check()
    supervisor.check()
    assert child.process is None and child.restarts == 0
    assert said == ["simulator exited with 3; not restarted"]
