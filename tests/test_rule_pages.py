"""Every rule has a page, and the page's examples are executed: the Example block must
produce exactly the findings its lines are marked with, the Use instead block none."""

import pytest
from conftest import actual_findings, expected_findings

from torchlint.docs import page_path, read_page
from torchlint.rules import all_rules

SECTIONS = ["What it does", "Why is this bad?", "Example", "Use instead"]
RULES = all_rules()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_page_has_the_fixed_sections(rule):
    assert page_path(rule).is_file(), f"missing page {page_path(rule)}"
    page = read_page(rule)
    assert page.title == f"{rule.name} ({rule.code})"
    headings = list(page.sections)
    assert [h for h in headings if h in SECTIONS] == SECTIONS
    assert "References" in headings
    if rule.fix_availability != "none":
        assert "Fix" in headings


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_example_produces_exactly_its_marked_findings(rule):
    example = read_page(rule).code_block("Example")
    assert example, "a page without an Example block"
    expected = expected_findings(example)
    assert any(code == rule.code for _, code in expected), "the Example must show the rule firing"
    assert actual_findings(example) == expected


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_use_instead_produces_no_finding(rule):
    better = read_page(rule).code_block("Use instead")
    assert better, "a page without a Use instead block"
    assert expected_findings(better) == set()
    assert actual_findings(better) == set()
