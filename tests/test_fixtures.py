"""Golden tests: whole training scripts in fixtures/check/ carry `# expect: CODE` on every
line where a finding is due; any other finding, or a missing one, fails."""

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


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_findings_match_golden_markers(path: Path):
    source = path.read_text(encoding="utf-8")
    assert actual_findings(source, filename=path.name) == expected_findings(source)
