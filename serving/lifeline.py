"""Processes that must not outlive their parent, and who holds a port.

BentoML runs the service in a worker process of its own session: when the server process
is killed (an OOM kill, a supervisor's `kill -9`), signalling its process group does not
reach the worker, which then keeps answering on the port with the model it loaded and
blocks every restart. The worker therefore follows its parent: the kernel sends it SIGTERM
when the parent dies (PR_SET_PDEATHSIG), and a watch thread checks the parent pid as well
(the death signal is tied to the parent thread that forked, and is lost when the parent
died before it was set)."""
from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def follow_parent(poll_s: float = 1.0) -> None:
    """Exit when the parent process goes away (call it first thing in the worker)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the watch thread alone
        pass
    threading.Thread(target=_watch, args=(parent, poll_s), name="follow-parent", daemon=True).start()


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)  # a clean shutdown first
    time.sleep(10)
    os._exit(1)


def port_holder(port: int) -> str | None:
    """'pid N (command line)' of the process listening on a TCP port, from /proc; None when
    it cannot be told (another user's process, or not Linux)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":  # LISTEN
                inodes.add(parts[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {pid} ({cmd[:120]})"
    return None
