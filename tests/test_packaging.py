"""pyproject.toml: an install prints no setuptools deprecation warning, and the dependencies a
fresh machine needs for the README's two commands are there."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_string_that_the_required_setuptools_reads():
    # a TOML table ({ text = "MIT" }) made setuptools warn three times per install
    assert PROJECT["project"]["license"] == "MIT"
    assert "setuptools>=77" in PROJECT["build-system"]["requires"]  # PEP 639 strings from 77


def test_drawing_and_blas_threads_need_no_extra():
    core = " ".join(PROJECT["project"]["dependencies"])
    assert "matplotlib" in core and "threadpoolctl" in core and "networkx" in core


@pytest.mark.slow
def test_building_the_package_prints_no_deprecation_warning(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                           str(tmp_path), str(REPO)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in (done.stdout + done.stderr).lower(), done.stderr
