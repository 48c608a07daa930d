"""Fixtures are real training scripts: each one runs to completion (on the CPU here),
the fixed versions in fixtures/fix included."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, missing_imports

pytest.importorskip("torch")
FIXTURES = sorted((ROOT / "fixtures" / "check").glob("*.py")) + sorted((ROOT / "fixtures" / "fix").glob("*.py"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_runs(path: Path, tmp_path: Path):
    missing = missing_imports(path)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
