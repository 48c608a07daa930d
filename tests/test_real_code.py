"""`check` over a large body of real code (the installed torch package's own sources, or
the standard library where torch is absent) must finish without a single internal error."""

import importlib.util
import json
import subprocess
import sys
import sysconfig
from pathlib import Path


def corpus() -> Path:
    spec = importlib.util.find_spec("torch")  # locates torch without importing it
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return Path(sysconfig.get_paths()["stdlib"])


def test_no_internal_errors_on_a_large_real_codebase():
    target = corpus()
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--select", "ALL", "-j", "2", "--exit-zero", "--no-cache",
         "--output-format", "json", "--no-respect-gitignore", "--exclude", "test,tests", str(target)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "internal error" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    findings = json.loads(result.stdout)
    crashes = [f for f in findings if f["name"] in ("internal-error",)]
    assert crashes == []
    # Python's own sources all parse; a syntax error here would be a decoding or parsing bug.
    assert [f for f in findings if f["name"] == "syntax-error"] == []
