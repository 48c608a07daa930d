"""The pre-commit hook manifest is valid and the hook works through `pre-commit try-repo`
on a scratch repository, exactly as a user's pre-commit would run it."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

BAD = (ROOT / "fixtures" / "check" / "tutorial_cifar_cnn.py").read_text()


def pre_commit(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True, text=True)


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_manifest_is_valid():
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hook_runs_through_try_repo(tmp_path):
    # The hook repository is a snapshot of this checkout, committed, so that try-repo
    # installs exactly the working tree under test.
    hook_repo = tmp_path / "hook-repo"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist", ".cache")
    shutil.copytree(ROOT, hook_repo, ignore=ignore)
    git("init", "-q", cwd=hook_repo)
    git("add", "-A", cwd=hook_repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot", cwd=hook_repo)

    user_repo = tmp_path / "user-repo"
    user_repo.mkdir()
    git("init", "-q", cwd=user_repo)
    (user_repo / "train.py").write_text(BAD)
    (user_repo / "notes.txt").write_text("not python\n")
    git("add", "-A", cwd=user_repo)

    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    result = pre_commit("try-repo", str(hook_repo), "torchlint", "--all-files", cwd=user_repo, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "train.py:" in output and "TL102" in output
    assert "Failed" in output

    (user_repo / "train.py").write_text("import torch\nprint(torch.ones(2))\n")
    git("add", "-A", cwd=user_repo)
    result = pre_commit("try-repo", str(hook_repo), "torchlint", "--all-files", cwd=user_repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout

    # The fix hook modifies the file, so pre-commit reports a failure once; then it passes.
    fixable = (ROOT / "fixtures" / "fix" / "latin1_coding.py").read_bytes()
    (user_repo / "train.py").write_bytes(fixable)
    git("add", "-A", cwd=user_repo)
    first = pre_commit("try-repo", str(hook_repo), "torchlint-fix", "--all-files", cwd=user_repo, env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    fixed = (ROOT / "fixtures" / "fix" / "latin1_coding.fixed.py").read_bytes()
    assert (user_repo / "train.py").read_bytes() == fixed
    git("add", "-A", cwd=user_repo)
    second = pre_commit("try-repo", str(hook_repo), "torchlint-fix", "--all-files", cwd=user_repo, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
