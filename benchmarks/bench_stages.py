"""Where torchlint's time goes per file, with the text pre-filter defeated: every file is
parsed and analysed by every rule. Prints each stage relative to libcst's parse_module
(the cost model in shared/design/conventions.md), single process.

    python benchmarks/bench_stages.py [DIR]   (default: the benchmark corpus)
"""

import sys
import time
from pathlib import Path

import libcst as cst

from torchlint.analysis.facts import Facts
from torchlint.analysis.model import FileModel
from torchlint.engine import build_rules
from torchlint.rules import all_rules
from torchlint.settings import RuleOptions

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / ".cache" / "corpus")
sources = [p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))]
if not sources:
    sys.exit(f"no Python files under {root}; run bench_vs_torchfix.py once to fetch the corpus")
rules = build_rules({r.code for r in all_rules()}, RuleOptions())
totals = {"parse": 0.0, "model": 0.0, "rules": 0.0}
findings = 0
for source in sources:
    start = time.perf_counter()
    module = cst.parse_module(source)
    parsed = time.perf_counter()
    facts = Facts(FileModel(module), source)
    modelled = time.perf_counter()
    findings += sum(1 for rule in rules for _ in rule.check(facts))
    done = time.perf_counter()
    totals["parse"] += parsed - start
    totals["model"] += modelled - parsed
    totals["rules"] += done - modelled
lines = sum(s.count("\n") for s in sources)
total = sum(totals.values())
print(f"{len(sources)} files, {lines} lines, {findings} findings, {total:.1f}s ({lines / total:,.0f} lines/s)")
for stage, seconds in totals.items():
    print(f"  {stage:<6} {seconds:6.1f}s  {seconds / totals['parse']:.2f}x parse")
