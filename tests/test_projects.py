"""Fixture projects (fixtures/projects/*): training code spread over modules and driven by
frameworks. Every `# expect: TLnnn` marker in any module must be found, nothing else, with
each rule enabled alone; and each project's entry script runs."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, expected_findings, missing_imports

from torchlint.rules import all_rules

PROJECTS = sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if p.is_dir())
CODES = [rule.code for rule in all_rules()]


def marked(project: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project).as_posix()
        found |= {(relative, line, code) for line, code in expected_findings(path.read_text(encoding="utf-8"))}
    return found


def checked(project: Path, code: str) -> set[tuple[str, int, str]]:
    from torchlint.run import Run, check
    from torchlint.discovery import FileFilter, DEFAULT_EXCLUDES, walk
    from torchlint.settings import Settings

    run = Run(Settings(select=[code], root=project), {code})
    files = walk(project, FileFilter(project, list(DEFAULT_EXCLUDES), True))
    diagnostics = check(run, files, jobs=1, use_cache=False, arguments=[project])
    assert not [d for d in diagnostics if d.kind != "finding"], diagnostics
    return {(Path(d.filename).resolve().relative_to(project).as_posix(), d.row, d.code) for d in diagnostics}


def test_every_rule_has_a_marker_in_some_project():
    codes = {code for project in PROJECTS for _, _, code in marked(project)}
    assert codes == set(CODES)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_project_findings_match_markers_one_rule_at_a_time(project, code):
    expected = {entry for entry in marked(project) if entry[2] == code}
    assert checked(project, code) == expected


def test_a_file_checked_alone_still_sees_its_project(tmp_path):
    """The pre-commit case: only the loader factory is named, its loader is trained on in
    another module (and the project is found by its pyproject.toml)."""
    project = ROOT / "fixtures" / "projects" / "src_layout"
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--no-cache", "--select", "TL101", "--output-format", "concise",
         str(project / "src" / "shapes" / "data.py")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "data.py:10:20: TL101" in result.stdout


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_project_runs(project, tmp_path, run_script):
    pytest.importorskip("torch")
    entry = project / "train.py"
    missing = [name for path in project.rglob("*.py") for name in missing_imports(path) if not _local(project, name)]
    if missing:
        pytest.skip(f"needs {', '.join(sorted(set(missing)))}")
    env = {"PYTHONPATH": str(project / "src")} if (project / "src").is_dir() else {}
    code, _, stderr = run_script([entry], tmp_path, env)
    assert code == 0, stderr[-3000:]


def _local(project: Path, module: str) -> bool:
    head = module.split(".")[0]
    return any((base / f"{head}.py").exists() or (base / head).is_dir() for base in (project, project / "src"))


def test_a_module_never_imports_itself():
    # `from model import FastSpeech2` in utils/model.py names the top-level `model`
    # package (the script runs from the root), not utils/model.py.
    from torchlint.project.layout import ModuleMap

    files = ModuleMap(["train.py", "utils/model.py", "utils/tools.py", "model/__init__.py"])
    assert files.resolve_module("utils/model.py", "model") == "model/__init__.py"
    assert files.resolve_module("utils/tools.py", "model") == "utils/model.py"  # a sibling, as before
