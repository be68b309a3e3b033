"""Model lanes in processes of their own.

A small encoder on a few cores runs best as several one-thread model calls at once, not one
call spread over every core (on 2 cores: one 2-thread caller 289.9-300.5 ACLED notes/s,
two 1-thread callers 382.5-391.7; session 10). Session 10 ran those calls on threads of the
service's process, and at 32 clients the lanes stalled: a forward pass is a few hundred torch
calls, each taking the GIL back from whichever thread held it (the other lane's tokenising and
answer-building, the event loop's HTTP and JSON), so each lane thread was on a core 0.77 of
its time and the service never used more than 1.7 of its 2 cores (session 11, /proc per-thread
CPU). Here each lane is a process with its own interpreter, its own copy of the model and its
own torch threads; the service's lane threads only hand it texts and wait (without the GIL).
The texts go over a pipe and the answers come back as plain dicts.

A lane process follows its parent (lifeline.py), and the lanes are restarted when one dies
(an OOM kill): the call it was running fails with a clear error, later calls are answered.
"""
from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from secnews.serving.batcher import trim_heap

_predictor = None  # the model of this lane process (set by start_lane)


def start_lane(model_path: str, threads: int) -> None:
    """A lane process's first step: die with the service, take its share of the cores, load the model."""
    global _predictor
    from secnews.serving.lifeline import follow_parent

    follow_parent()
    import torch

    torch.set_num_threads(threads)
    from secnews.training import load

    _predictor = load(model_path)


def warm_up(hold_s: float) -> int:
    """One call on a loaded lane, then a short hold so that the other warm-up calls go to other lanes."""
    import os
    import time

    answer(["warm-up"])
    time.sleep(hold_s)
    return os.getpid()


def answer(texts: list[str]) -> list[dict]:
    try:
        return _predictor.answers(texts)
    finally:
        trim_heap()  # the lane's heap, not the service's: the batches' memory lives here


class LanePool:
    """`lanes` model processes; `run(texts)` answers on whichever is free (call it from a thread)."""

    def __init__(self, model_path: str | Path, lanes: int, threads: int):
        self.model_path, self.lanes, self.threads = str(model_path), lanes, threads
        self.lock = threading.Lock()
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the service has threads (the event loop's, torch's) by the time it starts lanes
        pool = ProcessPoolExecutor(self.lanes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=start_lane, initargs=(self.model_path, self.threads))
        # as many calls at once as lanes: each starts a process of its own, which loads the model
        # now, not on the first request; the service is not ready until every lane has answered
        self.pids: set[int] = set()
        for _ in range(20):
            self.pids |= {f.result() for f in [pool.submit(warm_up, 0.2) for _ in range(self.lanes)]}
            if len(self.pids) >= self.lanes:
                break
        return pool

    def run(self, texts: list[str]) -> list[dict]:
        pool = self.pool
        try:
            future = pool.submit(answer, texts)
        except BrokenProcessPool:  # a lane died between calls: nothing was lost, answer on a fresh pool
            return self._restart(pool).submit(answer, texts).result()
        try:
            return future.result()
        except BrokenProcessPool:
            self._restart(pool)
            raise RuntimeError("a model lane process died during this call (out of memory?); the lanes "
                               "have been restarted, send the request again") from None

    def _restart(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with self.lock:  # one fresh pool, however many calls saw the old one break
            if self.pool is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self.pool = self._start()
            return self.pool

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
