#!/usr/bin/env python3
"""This checkout against another (an earlier commit as a git worktree), side by side: for a
change that must not make torchlint slower.

    git worktree add /tmp/base <commit>
    python benchmarks/compare_checkouts.py /tmp/base [--rounds 5]

Alternating the two checkouts round by round, so that load on the machine hits both alike:

- the cold corpus run of `bench_vs_torchfix.py` (`check -j 2 --select ALL --no-cache` on
  346 transformers model files), wall and CPU time;
- the one-file pre-commit case of `bench_vs_torchfix.py` (a 40-line training script);
- `bench_stages.py` (each checkout's own copy): summaries, and analysis + rules.

Prints each measure's medians and the ratio this/base (1.00 = the same; target <= 1.05).
Needs the corpus of `bench_vs_torchfix.py` (fetched by it on its first run, or here).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_vs_torchfix as bench  # noqa: E402  (its corpus, single file and environment)

HERE = Path(__file__).resolve().parent
STAGE = re.compile(r"^\s+(summaries|analysis \+ rules)\s+([\d.]+)s", re.MULTILINE)


def timed(cmd: list, checkout: Path) -> tuple[float, str]:
    """(wall seconds, stdout) of one run in a fresh process, with `checkout` first on the path."""
    env = dict(bench.ENV, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    result = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, cwd=checkout, env=env)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} in {checkout}: exit {result.returncode}\n{result.stderr[-2000:]}")
    return wall, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single-runs", type=int, default=5, help="one-file runs per round")
    args = parser.parse_args()
    checkouts = {"base": args.base.resolve(), "this": HERE.parent}
    files, lines = bench.prepare_corpus()
    bench.SINGLE.parent.mkdir(exist_ok=True)
    bench.SINGLE.write_text(bench.SINGLE_FILE)
    print(f"corpus: {files} files, {lines} lines; base = {checkouts['base']}")
    check = [sys.executable, "-m", "torchlint", "check", "--select", "ALL", "--no-cache", "--exit-zero",
             "--output-format", "concise", "--no-respect-gitignore"]
    measures: dict = {name: {} for name in checkouts}
    for name, checkout in checkouts.items():  # warm-up: bytecode caches for both
        timed(check + [bench.SINGLE], checkout)
    for round_ in range(1, args.rounds + 1):
        for name, checkout in checkouts.items():
            got = measures[name]
            got.setdefault("cold corpus (s)", []).append(timed(check[:4] + ["-j", "2"] + check[4:] + [bench.CORPUS], checkout)[0])
            single = [timed(check + [bench.SINGLE], checkout)[0] for _ in range(args.single_runs)]
            got.setdefault("one file (ms)", []).append(1000 * statistics.median(single))
            stages = timed([sys.executable, checkout / "benchmarks" / "bench_stages.py", bench.CORPUS], checkout)[1]
            for stage, seconds in STAGE.findall(stages):
                got.setdefault(f"{stage} (s)", []).append(float(seconds))
        print(f"round {round_}: " + "; ".join(
            f"{name} " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in measures[name].items()) for name in checkouts), flush=True)
    print(f"\n{'measure':<26} {'base':>9} {'this':>9} {'this/base':>10}")
    worst = 0.0
    for key in measures["base"]:
        base, this = statistics.median(measures["base"][key]), statistics.median(measures["this"][key])
        worst = max(worst, this / base)
        print(f"{key:<26} {base:9.2f} {this:9.2f} {this / base:9.2f}x")
    print(f"\nslowest ratio {worst:.2f}x (target <= 1.05x)")
    return 0 if worst <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
