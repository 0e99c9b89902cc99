"""A helper process forked from this one, where that is safe: it starts at once, with Numba,
graphc and Numba's registries already loaded. A helper started as a new Python took 0.3 s to
import them, and 0.13 s more to install the registries before its first compile, while this
process compiled alone.

Safe where the child can only be doing what this thread was: on Linux (macOS's system
libraries do not survive a fork), with no other Python thread (one could hold a lock the
child needs, Numba's compiler lock among them), and none of the runtimes that warn of a fork
(THREADED_RUNTIMES) loaded. Threads outside Python, BLAS's idle pool, are left behind: the
child only compiles and writes the cache, and calls no BLAS. It prints nothing and exits with
os._exit, so nothing of this process's (buffered output, atexit handlers) runs twice.
Elsewhere jobs.py starts a new Python instead.

`Forked` answers as much of subprocess.Popen as jobs.py asks: poll, wait, kill, returncode.
"""
from __future__ import annotations

import gc
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings

POLL_S = 0.005  # how often wait() looks, where the kernel offers no pidfd to wait on


# Runtimes whose own threads make a fork unsafe for code that uses them, and that say so as a
# process forks (JAX: "os.fork() is incompatible with multithreaded code ... will likely lead
# to a deadlock"). The child uses none of them, but a user should not read that from graphc:
# where one is loaded, the helper is a new Python.
THREADED_RUNTIMES = ("jax", "torch", "tensorflow")


def possible() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and \
        threading.active_count() == 1 and not any(m in sys.modules for m in THREADED_RUNTIMES)


class Forked:
    """`work()` run in a child forked from this process."""

    def __init__(self, work):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # else what is buffered is written by both processes
            except (AttributeError, OSError, ValueError):
                pass
        with warnings.catch_warnings():
            # Python 3.12 warns of BLAS's threads (see above)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            _child(work)
        self.pid, self.returncode = pid, None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # Linux before 5.3
            self._fd = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler)
                pid, status = self.pid, 1 << 8
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"graphc compile helper {self.pid}", timeout)
            if self._fd is not None:
                select.select([self._fd], [], [], left)  # readable once the child exits
            else:
                time.sleep(POLL_S if left is None else min(POLL_S, left))
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _child(work) -> None:
    code = 1
    try:
        # the user's signal handlers are this process's, not the child's (one that saves a
        # checkpoint on Ctrl-C would save it twice): a signal ends the child, as it would a
        # helper started as a new Python
        for number in signal.valid_signals():
            handler = signal.getsignal(number)
            if callable(handler):  # Python's own SIGINT handler included
                signal.signal(number, signal.SIG_DFL)
        try:
            signal.set_wakeup_fd(-1)  # (an event loop's: this process's to read)
        except ValueError:
            pass
        # what it would print (Numba's warnings of a kernel it compiles) this process prints
        # as it compiles its part, or loads the rest: once is enough (a helper started as a
        # new Python writes to /dev/null too)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        # a process that compiles and exits: its garbage goes with it, never freed one
        # object at a time. The tiny transformer's compile: 16.1-16.7 s with the helper's
        # collector off, 16.9-17.2 s with it on (or frozen, or run 300x less often: the
        # freeing, not the looking, costs); its peak memory 0.49 GB instead of 0.37
        gc.disable()
        work()
        code = 0
    finally:  # whatever happened, this process's code goes no further (its caller's caller
        os._exit(code)  # would otherwise go on running the user's program)
