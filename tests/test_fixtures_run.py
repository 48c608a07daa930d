"""Fixtures are real training scripts: each one runs to completion (on the CPU here),
the fixed versions in fixtures/fix included."""

from pathlib import Path

import pytest
from conftest import ROOT, missing_imports

pytest.importorskip("torch")
FIXTURES = sorted((ROOT / "fixtures" / "check").glob("*.py")) + sorted((ROOT / "fixtures" / "fix").glob("*.py"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_runs(path: Path, tmp_path: Path, run_script):
    missing = missing_imports(path)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    code, _, stderr = run_script([path], tmp_path)
    assert code == 0, stderr[-2000:]
