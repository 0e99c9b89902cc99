"""graphc/backend/numba/forked.py: a compile helper forked from this process runs its work and
exits, whatever the work does, and never returns into its caller; it answers poll, wait and
kill as a subprocess.Popen does."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from graphc.backend.numba import forked

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_the_work_runs_in_the_child_and_only_there(tmp_path):
    log = tmp_path / "log"

    def work():
        with open(log, "a") as f:
            f.write(f"child {os.getpid()}\n")
    child = forked.Forked(work)
    assert child.wait(timeout=60) == 0 and child.returncode == 0 and child.poll() == 0
    with open(log, "a") as f:
        f.write("parent\n")
    assert log.read_text() == f"child {child.pid}\nparent\n"  # the child went no further


@pytest.mark.parametrize("error", [RuntimeError("failed"), KeyboardInterrupt()])
def test_a_failing_child_exits_and_goes_no_further(tmp_path, error):
    log = tmp_path / "log"

    def work():
        raise error
    child = forked.Forked(work)
    log.write_text("parent\n")  # written once: the child did not come back here
    assert child.wait(timeout=60) == 1
    assert log.read_text() == "parent\n"


def test_the_users_signal_handlers_do_not_run_in_the_child(tmp_path):
    saved, ready = tmp_path / "saved", tmp_path / "ready"

    def save_a_checkpoint(number, frame):  # a user's handler, installed before the fork
        saved.write_text(str(os.getpid()))
    previous = signal.signal(signal.SIGUSR1, save_a_checkpoint)
    try:
        child = forked.Forked(lambda: ready.write_text("") or time.sleep(60))
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGUSR1)
        assert child.wait(timeout=60) == -signal.SIGUSR1  # ended by it, as by default
        assert not saved.exists()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_wait_times_out_and_kill_ends_it():
    child = forked.Forked(lambda: time.sleep(60))
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    assert child.poll() is None
    child.kill()
    assert child.wait(timeout=60) == -9
    child.kill()  # already gone: nothing happens


def test_waiting_without_a_pidfd(monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    child = forked.Forked(lambda: time.sleep(0.05))
    assert child._fd is None and child.wait(timeout=60) == 0


def test_not_with_another_python_thread_running(monkeypatch):
    monkeypatch.setattr(forked, "THREADED_RUNTIMES", ())  # (torch, imported by another test)
    assert forked.possible()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.possible()  # it could hold a lock the child needs
    finally:
        stop.set()
        other.join()


def test_not_where_a_runtime_that_warns_of_a_fork_is_loaded(monkeypatch):
    # JAX warns, as a process forks, that it "will likely lead to a deadlock"
    monkeypatch.setitem(sys.modules, "jax", object())
    assert not forked.possible()


def test_buffered_output_is_written_once_and_the_child_prints_nothing():
    script = textwrap.dedent("""
        import sys
        from graphc.backend.numba import forked
        sys.stdout.write("before ")  # buffered: a pipe
        forked.Forked(lambda: print("the child's own", file=sys.stderr)).wait(timeout=60)
        sys.stdout.write("after")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "before after"
    assert done.stderr == ""  # what the child prints goes nowhere (this process prints its own)
