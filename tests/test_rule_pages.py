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
        assert "Fix" in headings and "Fix safety" in headings


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_example_produces_exactly_its_marked_findings(rule):
    page = read_page(rule)
    example = page.code_block("Example")
    assert example, "a page without an Example block"
    expected = expected_findings(example)
    assert any(code == rule.code for _, code in expected), "the Example must show the rule firing"
    # Only the rules the page is about: a rule added later never re-marks another's page.
    codes = {rule.code} | {code for _, code in expected}
    assert actual_findings(example, codes=codes, target_torch=page.target_torch) == expected


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_use_instead_produces_no_finding(rule):
    page = read_page(rule)
    better = page.code_block("Use instead")
    assert better, "a page without a Use instead block"
    assert expected_findings(better) == set()
    codes = {rule.code} | {code for _, code in expected_findings(page.code_block("Example") or "")}
    assert actual_findings(better, codes=codes, target_torch=page.target_torch) == set()


@pytest.mark.parametrize("rule", [r for r in RULES if r.fix_availability != "none"], ids=lambda r: r.code)
def test_fix_section_shows_what_fix_does_to_the_example(rule):
    """The Fix block is the Example after `torchlint fix --apply --unsafe-fixes` (markers dropped)."""
    import re

    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    page = read_page(rule)
    options = RuleOptions(target_torch=page.target_torch)
    fixed = fix_source(page.code_block("Example"), "example.py", build_rules({rule.code}, options), unsafe=True)
    assert fixed.changed, "the Fix section must show a fix being applied"
    without_markers = re.sub(r"  # expect: TL\d{3}(?:, TL\d{3})*", "", fixed.source)
    assert page.code_block("Fix") == without_markers
    unsafe_only = any(d.fix and d.fix["applicability"] == "unsafe" for d in actual_diagnostics(page.code_block("Example"), options))
    if unsafe_only:
        assert "Fix safety" in page.sections


def actual_diagnostics(source, options):
    from torchlint.engine import build_rules, lint_source

    return lint_source(source, "example.py", build_rules({r.code for r in RULES}, options))
