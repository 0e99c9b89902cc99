"""The on-disk compile cache: generated modules as real files, Numba's machine code beside them.

Each module is `graphc_<hash>.py` in the cache directory, the hash of its source (which holds
the program's structure, dtypes and schedules, and the graphc and Numba versions and the CPU
in its header). Numba's `cache=True` keeps the compiled code in the directory's __pycache__,
so a second process that compiles the same graph loads it without compiling. Files are
written to a temporary name and renamed (two processes compiling the same graph both
succeed); a file whose content does not match its name, or that fails to import, is rebuilt.
The directory is private to the user. GRAPHC_CACHE_DIR overrides where it is.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time

ENV = "GRAPHC_CACHE_DIR"
MAX_MODULES = 4000  # beyond this many files the least recently written quarter is removed


def cache_dir() -> str:
    """GRAPHC_CACHE_DIR, else the user's cache directory (as platformdirs finds it)."""
    path = os.environ.get(ENV)
    if not path:
        if sys.platform == "darwin":
            base = os.path.expanduser("~/Library/Caches")
        elif os.name == "nt":
            base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        path = os.path.join(base, "graphc")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:20]


def load(source: str, name: str | None = None):
    """The module of `source`, from the cache (written there first if missing or damaged);
    `name` defaults to one made from the source's hash."""
    name = name or name_of(source)
    if name in sys.modules and getattr(sys.modules[name], "__graphc_source__", None) == source:
        return sys.modules[name]
    directory = cache_dir()
    path = write(source, name)
    try:
        return _import(name, path, source)
    except Exception:  # a damaged entry (or machine code Numba cannot read): rebuild it
        _forget(directory, name)
        write_atomic(path, source)
        return _import(name, path, source)


def write(source: str, name: str) -> str:
    """The path of module `name` in the cache, written there unless it already holds
    `source`."""
    directory = cache_dir()
    path = os.path.join(directory, name + ".py")
    if not _intact(path, source):
        write_atomic(path, source)
        _bound(directory)
    return path


_listing: tuple = (None, None, frozenset())  # (directory, its mtime, modules compiled there)
SETTLED_S = 2  # FAT's clock ticks in 2 s, ext4's in a few ms


def compiled(names) -> set:
    """Those of the modules `names` whose machine code Numba's cache holds (an index of one
    of their functions: what Numba finds without compiling, unless the module changed since).
    One listing of the directory for them all: it holds thousands of files, and listing it
    per module took 0.55 s for the tiny transformer's 96. And one per process while the
    directory is unchanged (its mtime): a start asks twice (runtime.py, then jobs.py), 8 ms
    each with 4,000 modules cached. Not where it changed in the last SETTLED_S: a file
    written within the same tick of the file system's clock leaves the mtime as it was."""
    global _listing
    directory = machine_code_dir()
    try:
        mtime = os.stat(directory).st_mtime_ns
        if _listing[:2] != (directory, mtime):
            found = frozenset(f.split(".", 1)[0] for f in os.listdir(directory)
                              if f.endswith(".nbi"))
            settled = time.time_ns() - mtime > SETTLED_S * 1e9
            _listing = (directory, mtime if settled else None, found)
    except OSError:
        return set()
    return set(_listing[2].intersection(names))


def machine_code_dir(directory: str | None = None) -> str:
    """Where Numba keeps the machine code of the cache's modules: their directory's
    __pycache__, or under NUMBA_CACHE_DIR where that is set (as Numba names it)."""
    from numba.core import config
    directory = directory or cache_dir()
    if not config.CACHE_DIR:
        return os.path.join(directory, "__pycache__")
    from numba.core.caching import _CacheLocator
    return os.path.join(os.path.abspath(config.CACHE_DIR),
                        _CacheLocator.get_suitable_cache_subpath(os.path.join(directory, "m.py")))


def _bound(directory: str) -> None:
    """Keep the cache bounded: past MAX_MODULES files, drop the least recently written quarter
    (with their machine code); a dropped module is simply generated again when needed."""
    names = [f for f in os.listdir(directory) if f.startswith("graphc_") and f.endswith(".py")]
    if len(names) <= MAX_MODULES:
        return
    names.sort(key=lambda f: os.path.getmtime(os.path.join(directory, f)))
    for f in names[:len(names) // 4]:  # modules already imported keep running from memory
        _remove_files(directory, f[:-3])


def _intact(path: str, source: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == source
    except OSError:
        return False


def write_atomic(path: str, source: str | bytes) -> None:
    """Write `source` (text, or bytes) to `path` through a temporary file renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-",
                               suffix=os.path.splitext(path)[1])
    try:
        with (os.fdopen(fd, "wb") if isinstance(source, bytes) else
              os.fdopen(fd, "w", encoding="utf-8")) as f:
            f.write(source)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _import(name: str, path: str, source: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: what compiles as it imports knows its module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    module.__graphc_source__ = source
    return module


def name_of(source: str) -> str:
    return f"graphc_{_digest(source)}"


def purge(names) -> None:
    """Forget these modules and delete their files and Numba's machine code."""
    directory = cache_dir()
    for name in names:
        sys.modules.pop(name, None)
        _remove_files(directory, name)


def _forget(directory: str, name: str) -> None:
    sys.modules.pop(name, None)
    _remove_machine_code(directory, name)


def _remove_files(directory: str, name: str) -> None:
    try:
        os.remove(os.path.join(directory, name + ".py"))
    except OSError:
        pass
    _remove_machine_code(directory, name)


def _remove_machine_code(directory: str, name: str) -> None:
    pycache = machine_code_dir(directory)
    if os.path.isdir(pycache):
        for f in os.listdir(pycache):
            if f.startswith(name + "."):
                try:
                    os.remove(os.path.join(pycache, f))
                except OSError:
                    pass


def info() -> dict:
    """What the cache holds: its directory, modules, and bytes on disk."""
    directory = cache_dir()
    modules = [f for f in os.listdir(directory) if f.startswith("graphc_") and f.endswith(".py")]
    total = 0
    for root, _, files in os.walk(directory):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return {"directory": directory, "modules": len(modules), "bytes": total}


def clear() -> int:
    """Empty the cache; returns how many modules it held."""
    directory = cache_dir()
    n = info()["modules"]
    for entry in os.listdir(directory):
        p = os.path.join(directory, entry)
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.remove(p)
    return n
