import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"#\s*expect:\s*(?P<codes>TL\d{3}(?:\s*,\s*TL\d{3})*)")


def expected_findings(source: str) -> set[tuple[int, str]]:
    """(line, code) pairs from `# expect: TL101, TL102` comments."""
    found = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            for code in match.group("codes").split(","):
                found.add((number, code.strip()))
    return found


def actual_findings(source: str, filename: str = "example.py", codes=None, target_torch=None) -> set[tuple[int, str]]:
    from torchlint.engine import build_rules, lint_source
    from torchlint.rules import all_rules
    from torchlint.settings import RuleOptions

    codes = codes or {rule.code for rule in all_rules()}
    diagnostics = lint_source(source, filename, build_rules(codes, RuleOptions(target_torch=target_torch)))
    errors = [d for d in diagnostics if d.kind != "finding"]
    assert not errors, errors
    return {(d.row, d.code) for d in diagnostics}


@pytest.fixture
def lint():
    """lint(source) -> {(line, code)} with every rule enabled."""
    from textwrap import dedent

    return lambda source, **kw: actual_findings(dedent(source), **kw)


def missing_imports(path: Path) -> list[str]:
    missing = []
    for node in ast.walk(ast.parse(path.read_bytes())):  # bytes: honours coding declarations
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            if importlib.util.find_spec(name.split(".")[0]) is None:
                missing.append(name)
    return missing


@pytest.fixture(scope="session")
def run_script():
    """run_script(argv, cwd, env=None, timeout=300) -> (exit code, stdout, stderr): a script
    run as `python *argv` would run it, forked from a process that has already imported
    torch (about two seconds saved per script; see torchlint/runtime/zygote.py)."""
    import os
    import tempfile

    from torchlint.runtime.zygote import Zygote

    zygote = Zygote()
    outputs = Path(tempfile.mkdtemp(prefix="torchlint-test-runs-"))

    def run(argv, cwd, env=None, timeout=300):
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
        out, err = outputs / "stdout", outputs / "stderr"
        code = zygote.run([str(a) for a in argv], Path(cwd), environment, out, err, timeout)
        assert code is not None, f"{argv} ran past {timeout} s"
        return code, out.read_text(errors="replace"), err.read_text(errors="replace")

    yield run
    zygote.close()
