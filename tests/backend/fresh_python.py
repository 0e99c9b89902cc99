"""A script run in a fresh Python, as the cache, compile-helper and BLAS tests run theirs: it
must succeed, and its last line of output is what it found, as JSON."""
import json
import subprocess
import sys


def run_json(script: str, env: dict, *args: str, timeout: float = 600) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
