"""graphc/backend/numba/nrt.py: Numba's runtime starts with its own functions' machine code
from graphc's cache in a warm process (not compiled by LLVM again), and a damaged file is
never handed to LLVM: the runtime then starts as Numba starts it, and the file is written
again."""
import os
import textwrap

import pytest
from fresh_python import run_json

from graphc.backend.numba import nrt

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from numba.core.runtime import nrtdynmod
    compiled = []  # the runtime's own functions compiled by LLVM in this process
    for name in ("create_nrt_module", "compile_nrt_functions"):
        def spy(*args, _f=getattr(nrtdynmod, name)):
            compiled.append(1)
            return _f(*args)
        setattr(nrtdynmod, name, spy)
    import graphc as gc
    x = gc.tensor("x", ("B",))
    f = gc.compile(gc.sum(gc.exp(x) * 2), backend="cpu")
    print(json.dumps({"value": float(f(x=np.zeros(3, np.float32))), "compiled": len(compiled)}))
""")


def _run(cache_dir):
    return run_json(SCRIPT, dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir)))


def _saved(cache_dir):
    return sorted(cache_dir.glob("nrt-*.bin"))


def test_a_warm_process_loads_the_runtimes_code_and_a_damaged_file_is_rebuilt(tmp_path):
    cold = _run(tmp_path)
    (path,) = _saved(tmp_path)
    written = path.stat().st_mtime_ns
    warm = _run(tmp_path)
    assert cold["compiled"] == 1 and warm["compiled"] == 0
    assert path.stat().st_mtime_ns == written
    assert cold["value"] == warm["value"] == 6.0
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)  # damaged: LLVM never sees it
    assert nrt._read(str(path)) is None
    again = _run(tmp_path)
    assert again == cold
    assert nrt._read(str(path)) is not None  # written again, whole


@pytest.mark.parametrize("data", [b"", b"short", b"\0" * 40, b"\0" * 32 + b"\xff" * 8])
def test_a_file_that_does_not_hold_what_its_hash_says_is_not_read(tmp_path, data):
    path = tmp_path / "nrt-x.bin"
    path.write_bytes(data)
    assert nrt._read(str(path)) is None
    assert nrt._read(str(tmp_path / "missing.bin")) is None


def test_what_is_written_reads_back(tmp_path):
    path = str(tmp_path / "nrt-x.bin")
    nrt._write(path, b"object code", b"bitcode")
    assert nrt._read(path) == (b"object code", b"bitcode")
