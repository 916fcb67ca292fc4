"""Shared set-up of the Python bindings' tests. ctest runs them with
PATHFLOW_LIBRARY (the build's libpathflow.so), PYTHONPATH (python/),
PF_REFERENCE (pf_reference, the C side of comparisons), PF_CLI (the pathflow
tool) and PF_SOURCE_DIR (the repository) set; a missing variable fails the
test that needs it, never skips it."""
import os
import subprocess

import numpy as np
import pytest


def env_path(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set (run the tests through ctest or set it)"
    return value


@pytest.fixture
def reference():
    """Runs pf_reference with the arguments; returns its stdout."""
    exe = env_path("PF_REFERENCE")

    def run(*args):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 0, f"pf_reference {' '.join(map(str, args))}: {p.stderr}"
        return p.stdout
    return run


@pytest.fixture
def cli():
    """Runs the pathflow tool; returns (exit status, stdout, stderr)."""
    exe = env_path("PF_CLI")

    def run(*args, cwd=None):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd)
        return p.returncode, p.stdout, p.stderr
    return run


@pytest.fixture
def source_dir():
    return env_path("PF_SOURCE_DIR")


def max_rel_err(a, b, floor=1e-300):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))
