"""The README stays true: its rule table, its option list and CI's test command."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT

from torchlint.cli.rules import rules_markdown_table

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_is_generated_from_the_rules():
    table = README.split("<!-- rules:start -->")[1].split("<!-- rules:end -->")[0].strip()
    assert table == rules_markdown_table(), "regenerate with `torchlint rules --output-format markdown`"


@pytest.mark.parametrize("command", ["check", "fix", "verify"])
def test_every_option_is_documented(command):
    help_text = subprocess.run(
        [sys.executable, "-m", "torchlint", command, "--help"], capture_output=True, text=True, check=True
    ).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    missing = sorted(o for o in options if f"`{o}" not in README)
    assert not missing, f"undocumented options: {missing}"


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_every_command_is_in_the_usage_and_the_pre_commit_rev_is_this_release():
    from torchlint import __version__
    from torchlint.cli import main

    usage = README.split("## Usage")[1].split("###")[0]
    assert all(f"torchlint {name}" in usage for name in main.commands)
    # Releases are tagged v<version>; the snippet names the current one.
    assert re.search(r"^\s+rev: v(\S+)", README, re.MULTILINE).group(1) == __version__
