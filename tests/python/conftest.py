# conftest.py — what the Python tests share: the dgm binary (DGM_BINARY, set
# by CTest), the source tree, and running the CLI. Each test's files go in its
# own folder (pytest's tmp_path, named after the test, under --basetemp).
import json
import os
import subprocess
from pathlib import Path

import pytest

SOURCE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dgm_binary():
    path = os.environ.get("DGM_BINARY")
    if not path:
        pytest.fail("DGM_BINARY is not set: run these tests through ctest (scripts/test.sh)")
    return path


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE_DIR


@pytest.fixture
def cli(dgm_binary):
    """cli(*args, cwd=None) -> stdout (bytes); fails the test on a non-zero exit."""

    def run(*args, cwd=None, ok=True):
        p = subprocess.run([dgm_binary, *map(str, args)], cwd=cwd, capture_output=True)
        if ok and p.returncode != 0:
            pytest.fail(f"dgm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
        return p.stdout if ok else p

    return run


def jsonl(data):
    return [json.loads(line) for line in data.decode().splitlines() if line]
