"""A rule's facts are declared once, on its class, and everything that shows them agrees:
the page's `Fix:` line, `torchlint rules`, the README table (tests/test_readme.py), verify's
sets, and what the rule's fixes really are on its examples and fixtures."""

import json
import subprocess
import sys
from collections import defaultdict

import pytest
from conftest import ROOT

from torchlint.docs import page_path, read_page
from torchlint.fixes import Applicability
from torchlint.rules import all_rules
from torchlint.rules.base import Default, Effect
from torchlint.runtime import verify

RULES = all_rules()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_page_fix_line_is_the_declared_one(rule):
    lines = page_path(rule).read_text(encoding="utf-8").splitlines()
    assert lines[2] == rule.fix_line(), f"{page_path(rule).name}: write `{rule.fix_line()}` (from {rule.__name__})"
    assert not lines[3].strip(), "the Fix: line is one line"


def test_rules_command_shows_the_declarations():
    listing = subprocess.run([sys.executable, "-m", "torchlint", "rules", "--output-format", "json"],
                             capture_output=True, text=True, check=True)
    rows = {row["code"]: row for row in json.loads(listing.stdout)}
    assert list(rows) == [rule.code for rule in RULES]
    for rule in RULES:
        row = rows[rule.code]
        assert row["fix"] == (" or ".join(a.value for a in rule.fixes) or "none")
        assert row["default"] is (rule.default is Default.ON)
        assert row["name"] == rule.name and row["summary"] == rule.summary


def test_verify_sets_come_from_the_declarations():
    assert verify.GPU_ONLY_EFFECT == {rule.code for rule in RULES if rule.effect is Effect.GPU_ONLY}
    assert verify.TORCH_1_ONLY_EFFECT == {rule.code for rule in RULES if rule.effect is Effect.TORCH_1_ONLY}
    assert verify.GPU_ONLY_EFFECT and verify.TORCH_1_ONLY_EFFECT


def test_declarations_are_typed():
    for rule in RULES:
        assert all(isinstance(a, Applicability) and a is not Applicability.DISPLAY_ONLY for a in rule.fixes), rule.code
        assert isinstance(rule.effect, Effect) and isinstance(rule.default, Default), rule.code
        assert rule.fixes or rule.no_fix_reason.startswith("no automatic fix: "), rule.code


@pytest.fixture(scope="module")
def offered_fixes(tmp_path_factory):
    """code -> the applicabilities of the fixes torchlint offers on the page examples and
    the fixtures (every rule enabled, unsafe fixes shown)."""
    examples = tmp_path_factory.mktemp("examples")
    for rule in RULES:
        code = read_page(rule).code_block("Example")
        if code:
            (examples / f"{rule.code.lower()}_example.py").write_text(code, encoding="utf-8")
    roots = [examples, ROOT / "fixtures" / "check", ROOT / "fixtures" / "fix", ROOT / "fixtures" / "runtime"]
    roots += sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if p.is_dir())
    offered = defaultdict(set)
    for root in roots:
        result = subprocess.run(
            [sys.executable, "-m", "torchlint", "check", "--select", "ALL", "--unsafe-fixes", "--isolated", "--no-cache",
             "--exit-zero", "--output-format", "json", "."],
            cwd=root, capture_output=True, text=True,
        )
        for finding in json.loads(result.stdout):
            if finding["fix"] is not None:
                offered[finding["code"]].add(finding["fix"]["applicability"])
    return offered


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_declared_fixes_are_the_fixes_offered(rule, offered_fixes):
    """A rule offers exactly the fixes it declares (display-only advice aside): each declared
    applicability shows on its examples or fixtures, and no other does."""
    offered = offered_fixes[rule.code] - {"display-only"}
    assert offered == {a.value for a in rule.fixes}, f"{rule.code} offers {sorted(offered)}, declares {rule.fixes}"
