"""`check` over a pinned, named body of real code must finish without a single internal
error: the training-facing parts of the installed torch package (pinned in CI:
torch==2.13.0; about 80k lines), or named standard library packages where torch is
absent. Named, so that the time and meaning of the test do not depend on the machine."""

import importlib.util
import json
import subprocess
import sys
import sysconfig
from pathlib import Path


TORCH_PARTS = ["utils/data", "optim", "nn/modules", "nn/parallel", "amp", "cuda", "distributed/fsdp"]
STDLIB_PARTS = ["json", "asyncio", "email", "concurrent", "unittest", "multiprocessing"]


def corpus() -> list[Path]:
    spec = importlib.util.find_spec("torch")  # locates torch without importing it
    if spec is not None and spec.origin:
        root, parts = Path(spec.origin).parent, TORCH_PARTS
    else:
        root, parts = Path(sysconfig.get_paths()["stdlib"]), STDLIB_PARTS
    paths = [root / part for part in parts]
    assert all(path.is_dir() for path in paths), [p for p in paths if not p.is_dir()]
    return paths


def test_no_internal_errors_on_a_large_real_codebase():
    targets = corpus()
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--select", "ALL", "--exit-zero", "--no-cache",
         "--output-format", "json", "--no-respect-gitignore", "--exclude", "test,tests", *map(str, targets)],
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
