"""Golden tests: whole training scripts in fixtures/check/ carry `# expect: CODE` on every
line where a finding is due; any other finding, or a missing one, fails."""

import re
from pathlib import Path

import pytest
from conftest import ROOT, actual_findings, expected_findings

FIXTURES = sorted((ROOT / "fixtures" / "check").glob("*.py"))


def test_there_are_fixtures_for_every_rule():
    from torchlint.rules import all_rules

    marked = set()
    for path in FIXTURES:
        marked |= {code for _, code in expected_findings(path.read_text())}
    assert {rule.code for rule in all_rules()} <= marked


def target_torch(source: str) -> str | None:
    """A fixture that targets an old torch says so in its docstring: (`target-torch = "1.13"`)."""
    match = re.search(r'`target-torch = "([^"]+)"`', source)
    return match.group(1) if match else None


def rules_of(source: str) -> set[str]:
    """The rules a fixture is about: every code it names (in its markers or its docstring's
    traps). A rule added later never re-marks another rule's fixture."""
    from torchlint.rules import all_rules

    return set(re.findall(r"\bTL\d{3}\b", source)) & {rule.code for rule in all_rules()}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_findings_match_golden_markers(path: Path):
    source = path.read_text(encoding="utf-8")
    codes = rules_of(source)
    assert codes, "a fixture names the rules it tests"
    found = actual_findings(source, filename=path.name, codes=codes, target_torch=target_torch(source))
    assert found == expected_findings(source)
