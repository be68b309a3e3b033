"""The service's model lanes (serving/lanes.py): model processes of their own that answer as
the model does in-process, and that come back when one is killed."""
import os
import signal
import threading
import time

import pytest
from secnews.serving.lanes import LanePool
from secnews.training import load

TEXTS = ["Two rockets struck a base south of Baghdad hosting coalition trainers.",
         "Hundreds of teachers marched in the capital to demand unpaid salaries.",
         "Gunmen attacked a police checkpoint overnight, killing two officers."]


def wait_gone(pid: int, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"lane process {pid} still alive")


def test_lanes_answer_like_the_model_and_come_back_after_a_lane_is_killed(smoke_model):
    expected = load(smoke_model).answers(TEXTS)
    pool = LanePool(smoke_model, lanes=2, threads=1)
    try:
        assert len(pool.pids) == 2  # both lanes loaded the model before the pool was ready
        assert pool.run(TEXTS) == expected
        victim = sorted(pool.pids)[0]
        os.kill(victim, signal.SIGKILL)  # between calls: nothing is lost, the next call is answered
        wait_gone(victim)
        time.sleep(0.5)  # the pool's manager thread notices the death
        assert pool.run(TEXTS) == expected
        assert victim not in pool.pids and len(pool.pids) == 2
    finally:
        pool.close()
    for pid in pool.pids:
        wait_gone(pid)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_lane_killed_during_a_call_fails_that_call_clearly_and_the_next_is_answered(smoke_model):
    pool = LanePool(smoke_model, lanes=1, threads=1)
    try:
        (lane,) = pool.pids
        busy_from = cpu_seconds(lane)
        long_call = [TEXTS[0] * 1400] * 16  # ~1.4 s of work for the smoke model

        def kill_once_working() -> None:
            deadline = time.time() + 10
            while cpu_seconds(lane) < busy_from + 0.2 and time.time() < deadline:
                time.sleep(0.01)
            os.kill(lane, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_working)
        killer.start()
        with pytest.raises(RuntimeError, match="model lane process died during this call"):
            pool.run(long_call)
        killer.join()
        assert pool.run(TEXTS[:1]) == load(smoke_model).answers(TEXTS[:1])
    finally:
        pool.close()
