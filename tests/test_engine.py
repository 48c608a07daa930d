"""The engine's guarantees: one broken rule never stops the others, decoding follows
PEP 263, and files no rule can match are still syntax-checked."""

import json
import subprocess
import sys
from textwrap import dedent

import pytest
from click.testing import CliRunner

from torchlint import cli
from torchlint.engine import build_rules, lint_source
from torchlint.rules import all_rules
from torchlint.rules.base import Rule
from torchlint.settings import RuleOptions
from torchlint.sources import LintError, decode_source

SOURCE = """\
import torch
x = torch.zeros(3)
x.to("cuda")
"""


class ExplodingRule(Rule):
    code = "TL999"
    name = "exploding-rule"
    summary = "a rule with a bug"

    def check(self, module):
        raise ValueError("boom")
        yield


def test_a_crashing_rule_is_reported_and_the_others_still_run():
    rules = [ExplodingRule(RuleOptions())] + build_rules({"TL203"}, RuleOptions())
    diagnostics = lint_source(SOURCE, "t.py", rules)
    kinds = sorted((d.kind, d.code) for d in diagnostics)
    assert kinds == [("finding", "TL203"), ("internal-error", None)]
    [error] = [d for d in diagnostics if d.kind == "internal-error"]
    assert "rule TL999 (exploding-rule)" in error.message and "ValueError: boom" in error.message


def test_cli_exits_2_on_internal_errors_and_names_rule_and_file(tmp_path, monkeypatch):
    (tmp_path / "t.py").write_text(SOURCE)
    real = build_rules
    monkeypatch.setattr("torchlint.run.build_rules", lambda codes, options: [ExplodingRule(options)] + real(codes, options))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, ["check", "-j", "1", "--output-format", "json", "t.py"])
    assert result.exit_code == 2
    assert "t.py: internal error in rule TL999 (exploding-rule): ValueError: boom" in result.stderr
    assert [row["code"] for row in json.loads(result.stdout)] == ["TL203"]


@pytest.mark.parametrize(
    "data, text",
    [
        (b"\xef\xbb\xbfx = 1\n", "x = 1\n"),
        (b"# -*- coding: latin-1 -*-\nname = '\xe9'\n", "# -*- coding: latin-1 -*-\nname = '\xe9'\n"),
        (b"x = '\xc3\xa9'\r\n", "x = '\xe9'\r\n"),
    ],
)
def test_decoding_follows_bom_and_coding_declarations(data, text):
    assert decode_source(data) == text


def test_undecodable_bytes_are_a_clear_error():
    with pytest.raises(LintError, match="not UTF-8 and no encoding declaration"):
        decode_source(b"x = '\xe9'\n")
    with pytest.raises(LintError, match="bad encoding declaration"):
        decode_source(b"# -*- coding: klingon -*-\nx = 1\n")


def test_files_no_rule_can_match_are_still_syntax_checked():
    rules = build_rules({r.code for r in all_rules()}, RuleOptions())
    [d] = lint_source("def broken(:\n    pass\n", "b.py", rules)
    assert (d.kind, d.row, d.column) == ("syntax-error", 1, 12)
    assert lint_source("print('hello')\n", "ok.py", rules) == []


def test_crlf_sources_report_the_right_lines():
    rules = build_rules({"TL203"}, RuleOptions())
    [d] = lint_source(SOURCE.replace("\n", "\r\n"), "t.py", rules)
    assert (d.row, d.column) == (3, 1)


def test_syntax_newer_than_the_interpreter_is_not_an_error():
    rules = build_rules({r.code for r in all_rules()}, RuleOptions())
    source = "type Vector = list[float]\n\ndef first[T](xs: list[T]) -> T:\n    return xs[0]\n"
    assert lint_source(source, "py312.py", rules) == []


def test_the_process_pool_summarizes_exactly_what_one_process_does(monkeypatch):
    """With three jobs the pool runs (its size threshold lowered for the test): the
    summaries shipped back from the workers equal the ones made in this process."""
    from conftest import ROOT

    from torchlint import runner
    from torchlint.project.summary import to_json
    from torchlint.project.workspace import summarize_files
    from torchlint.sources import SourceFile

    monkeypatch.setattr(runner, "POOL_MIN_BYTES", 0)
    sources = sorted((ROOT / "fixtures" / "check").glob("*.py"))[:10]
    files = [SourceFile(None, path.name, path.read_bytes()) for path in sources]
    calls = []
    original = runner.ProcessPoolExecutor

    class Counting(original):
        def submit(self, *args, **kwargs):
            calls.append(args)
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(runner, "ProcessPoolExecutor", Counting)
    pooled = {relpath: to_json(summary) for relpath, summary in runner.summarize_in_parallel(files, 3)}
    serial = {relpath: to_json(summary) for relpath, summary in summarize_files(files)}
    assert calls, "the pool was not used"
    assert pooled == serial and len(pooled) == len(files)


def test_a_global_imported_inside_a_function_is_read_as_an_import(tmp_path):
    # `global np; import numpy as np` in a function binds the module-level name through an
    # ["in", function, import] value: reading it crashed every rule that asked.
    (tmp_path / "train.py").write_text(dedent("""
        import torch

        def setup():
            global np
            import numpy as np

        class M(torch.nn.Module):
            def forward(self, x):
                return np.zeros(3)

        def train(model, loader):
            for x in loader:
                loss = model(x)
                loss.backward()
    """))
    result = subprocess.run([sys.executable, "-m", "torchlint", "check", "--isolated", "--no-cache", "train.py"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "internal error" not in result.stderr, result.stderr
