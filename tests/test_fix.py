"""`torchlint fix`: golden before/after pairs, byte-faithful writes, exit codes, and the
guarantees (compiles, idempotent, nothing written without --apply)."""

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from torchlint.engine import build_rules, lint_source
from torchlint.fixes.apply import applicable, fix_source
from torchlint.rules import all_rules
from torchlint.fixes import SAFE, Edit, Fix
from torchlint.project.summary import Span
from torchlint.rules.base import Finding, Rule
from torchlint.settings import RuleOptions

FIX_DIR = ROOT / "fixtures" / "fix"
BEFORE = sorted(p for p in FIX_DIR.glob("*.py") if not p.name.endswith(("fixed.py")))
ALL_RULES = build_rules({r.code for r in all_rules()}, RuleOptions())


def run(*args, cwd, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=cwd, input=stdin, capture_output=True)


def expected(path: Path, unsafe: bool) -> bytes:
    unsafe_file = path.with_name(path.stem + ".unsafe-fixed.py")
    if unsafe and unsafe_file.exists():
        return unsafe_file.read_bytes()
    return path.with_name(path.stem + ".fixed.py").read_bytes()


@pytest.fixture
def workdir(tmp_path):
    for path in BEFORE:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_apply_writes_exactly_the_golden_files_byte_for_byte(workdir, unsafe):
    args = ["fix", "--apply", "--isolated", *(["--unsafe-fixes"] if unsafe else []), "."]
    first = run(*args, cwd=workdir)
    assert first.returncode in (0, 1), first.stderr.decode()
    for path in BEFORE:
        assert (workdir / path.name).read_bytes() == expected(path, unsafe), path.name
    # A second run changes nothing and touches nothing.
    stamps = {p.name: p.stat().st_mtime_ns for p in workdir.glob("*.py")}
    second = run(*args, cwd=workdir)
    assert "Fixed" not in second.stdout.decode()
    assert {p.name: p.stat().st_mtime_ns for p in workdir.glob("*.py")} == stamps


def test_crlf_and_coding_declarations_survive(workdir):
    run("fix", "--apply", "--isolated", "crlf_endings.py", "latin1_coding.py", cwd=workdir)
    crlf = (workdir / "crlf_endings.py").read_bytes()
    assert b"model = model.to(device)\r\n" in crlf and b"\n" not in crlf.replace(b"\r\n", b"")
    latin = (workdir / "latin1_coding.py").read_bytes()
    assert latin.startswith(b"# -*- coding: latin-1 -*-") and "données".encode("latin-1") in latin
    assert b"pin_memory=torch.cuda.is_available()" in latin


def test_a_byte_order_mark_survives(tmp_path):
    source = (FIX_DIR / "device_moves.py").read_bytes()
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + source)
    run("fix", "--apply", "--isolated", "bom.py", cwd=tmp_path)
    assert (tmp_path / "bom.py").read_bytes() == b"\xef\xbb\xbf" + expected(FIX_DIR / "device_moves.py", unsafe=False)


def test_without_apply_shows_a_diff_and_writes_nothing(workdir):
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in workdir.glob("*.py")}
    result = run("fix", "--isolated", ".", cwd=workdir)
    assert result.returncode == 1
    text = result.stdout.decode()
    assert "--- a/device_moves.py" in text and "+model = model.to(device)" in text
    assert "Would fix" in text
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in workdir.glob("*.py")} == before


def test_exit_codes(tmp_path):
    fixable_only = FIX_DIR / "latin1_coding.py"
    shutil.copy(fixable_only, tmp_path / "a.py")
    assert run("fix", "--isolated", "a.py", cwd=tmp_path).returncode == 1  # would change
    assert run("fix", "--apply", "--isolated", "--exit-non-zero-on-fix", "a.py", cwd=tmp_path).returncode == 1
    assert run("fix", "--isolated", "a.py", cwd=tmp_path).returncode == 0  # nothing left to change
    assert run("fix", "--apply", "--isolated", "a.py", cwd=tmp_path).returncode == 0  # and nothing remains
    shutil.copy(FIX_DIR / "dataloaders.py", tmp_path / "b.py")
    result = run("fix", "--apply", "--isolated", "b.py", cwd=tmp_path)
    assert result.returncode == 1  # TL101 remains without --unsafe-fixes
    text = result.stdout.decode()
    assert "Fixed 6 errors (TL102 x2, TL105 x4)." in text  # pinned, then non-blocking copies
    assert "TL101 (2): unsafe fix available with --unsafe-fixes" in text


def test_summary_explains_findings_without_a_fix(tmp_path):
    source = (ROOT / "fixtures" / "check" / "tutorial_cifar_cnn.py").read_text()
    (tmp_path / "t.py").write_text(source)
    text = run("fix", "--apply", "--isolated", "--extend-select", "TL103", "t.py", cwd=tmp_path).stdout.decode()
    assert "TL103 (1): no automatic fix: a larger batch changes the optimisation" in text


def test_permissions_are_kept(tmp_path):
    target = tmp_path / "train.py"
    shutil.copy(FIX_DIR / "device_moves.py", target)
    target.chmod(0o750)
    run("fix", "--apply", "--isolated", "train.py", cwd=tmp_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert target.read_bytes() == expected(FIX_DIR / "device_moves.py", unsafe=False)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".torchlint")]


def test_a_file_that_does_not_parse_is_never_modified(tmp_path):
    broken = (FIX_DIR / "device_moves.py").read_text() + "\ndef broken(:\n"
    (tmp_path / "broken.py").write_text(broken)
    result = run("fix", "--apply", "--isolated", "broken.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "SyntaxError" in result.stdout.decode()
    assert (tmp_path / "broken.py").read_text() == broken


def test_stdin_prints_the_fixed_source(tmp_path):
    source = (FIX_DIR / "device_moves.py").read_bytes()
    result = run("fix", "-", "--stdin-filename", "device_moves.py", "--isolated", cwd=tmp_path, stdin=source)
    assert result.stdout == expected(FIX_DIR / "device_moves.py", unsafe=False)


class BreaksTheCode(Rule):
    """A rule with a buggy fix, to prove that fixes which break the code are refused."""

    code = "TL998"
    name = "breaks-the-code"
    summary = "test only"

    def check(self, module):
        yield Finding(Span(1, 0, 1, 12), "bad", Fix(SAFE, "break it", [Edit((2, 0), (2, 0), "def (\n")]))


def test_a_fix_that_would_not_compile_leaves_the_file_untouched():
    source = "import torch\nx = 1\n"
    result = fix_source(source, "t.py", [BreaksTheCode(RuleOptions())])
    assert result.source == source and not result.changed
    assert "fixes by TL998 would produce code that does not compile" in result.error


# -- properties over every fixture and a large body of real code ------------------------


def python_files():
    files = sorted((ROOT / "fixtures").rglob("*.py"))
    import importlib.util

    spec = importlib.util.find_spec("torch")  # located, not imported
    if spec is not None and spec.origin:
        # The parts of torch's own sources where the rules find (and fix) the most.
        torch_dir = Path(spec.origin).parent
        files += sorted((torch_dir / "testing" / "_internal").rglob("*.py"))
        files += sorted((torch_dir / "utils" / "data").rglob("*.py"))
    return files


def test_fix_properties_over_fixtures_and_real_code():
    """For every file with something to fix: the result compiles, fixing again changes
    nothing, and no safe fix is left behind."""
    fixed_files = 0
    for path in python_files():
        try:
            source = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        diagnostics = lint_source(source, path.name, ALL_RULES)
        if not any(applicable(d, unsafe=True) for d in diagnostics):
            continue
        for unsafe in (False, True):
            result = fix_source(source, path.name, ALL_RULES, unsafe=unsafe)
            assert result.error is None, (path, result.error)
            compile(result.source, str(path), "exec")
            again = fix_source(result.source, path.name, ALL_RULES, unsafe=unsafe)
            assert not again.changed, path
            assert not [d for d in result.remaining if applicable(d, unsafe)], path
        fixed_files += 1
    assert fixed_files >= 5
