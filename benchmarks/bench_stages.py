"""Where torchlint's time goes on a corpus, single process, no cache: summarizing every
file (the stdlib parser plus the summary walk), then analysing the project and running
every rule on every file. Prints each stage relative to libcst's parse_module, the unit
of the cost model in shared/design/conventions.md (libcst itself now parses only files
whose fixes need it).

    python benchmarks/bench_stages.py [DIR]   (default: the benchmark corpus)
"""

import sys
import time
from pathlib import Path

import libcst as cst

from torchlint.engine import build_rules, lint_module
from torchlint.project.index import Project
from torchlint.project.summary import summarize
from torchlint.rules import all_rules
from torchlint.semantic.context import Semantics
from torchlint.settings import RuleOptions

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / ".cache" / "corpus")
paths = sorted(root.rglob("*.py"))
sources = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in paths}
if not sources:
    sys.exit(f"no Python files under {root}; run bench_vs_torchfix.py once to fetch the corpus")
rules = build_rules({r.code for r in all_rules()}, RuleOptions())

start = time.perf_counter()
for text in sources.values():
    cst.parse_module(text)
libcst_parse = time.perf_counter() - start

start = time.perf_counter()
summaries = {relpath: summarize(text) for relpath, text in sources.items()}
summarized = time.perf_counter() - start

start = time.perf_counter()
semantics = Semantics(Project(root, summaries, summaries.get))
findings = 0
for relpath in sources:
    findings += sum(1 for d in lint_module(semantics, relpath, relpath, rules, lambda r=relpath: sources[r]) if d.kind == "finding")
analysed = time.perf_counter() - start

lines = sum(s.count("\n") for s in sources.values())
total = summarized + analysed
print(f"{len(sources)} files, {lines} lines, {findings} findings, {total:.1f}s ({lines / total:,.0f} lines/s)")
for stage, seconds in (("libcst parse (reference)", libcst_parse), ("summaries", summarized), ("analysis + rules", analysed)):
    print(f"  {stage:<25} {seconds:6.2f}s  {seconds / libcst_parse:.2f}x libcst parse")
