#!/usr/bin/env python3
"""Everything torchlint reports and rewrites on a set of trees, as one comparable text file.

    python benchmarks/findings_snapshot.py OUT.txt ROOT [ROOT ...] [--torchlint DIR]

For a refactoring that must not change behaviour: run it once with the code before and once
with the code after, then `diff` the two files. For each ROOT (a repository, a fixture
directory) it records, as a user would run it from inside ROOT:

- `check --select ALL --no-cache --isolated -j 1 --output-format json .` (notebooks included),
  one finding a line with its location, code, message, fix applicability and edits;
- `fix --select ALL --unsafe-fixes --no-cache --isolated -j 1 .`: the diff of every fix, safe
  and unsafe.

`--torchlint DIR` runs the torchlint found in DIR (a checkout of another commit: a git
worktree) instead of the installed one. Rule page URLs are recorded without the checkout's
own path, so two checkouts compare equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], root: Path, torchlint_dir: Path | None) -> subprocess.CompletedProcess:
    # Fixed string hashing: which of two project-wide fixes lands first in `fix` can depend on
    # set order (seen on pytorch-a2c-ppo-acktr-gail, TL403, at 14d388e as now).
    env = dict(os.environ, PYTHONHASHSEED="0")
    if torchlint_dir is not None:
        env["PYTHONPATH"] = str(torchlint_dir) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=root, env=env,
                          capture_output=True, text=True, errors="replace")


def _finding_line(finding: dict) -> str:
    finding = dict(finding)
    url = finding.pop("url", None) or ""
    finding["url"] = url.rsplit("/", 1)[-1]
    return json.dumps(finding, sort_keys=True)


def snapshot(root: Path, torchlint_dir: Path | None) -> list[str]:
    lines = [f"### {root.name}"]
    # One job: `fix` on several files of a project is not deterministic with a pool (the
    # files fixed in one pass change the project-wide facts of the next).
    common = ["--select", "ALL", "--no-cache", "--isolated", "-j", "1"]
    checked = _run(["check", *common, "--exit-zero", "--output-format", "json", "."], root, torchlint_dir)
    lines.append(f"check exit {checked.returncode}")
    try:
        findings = json.loads(checked.stdout)
    except ValueError:
        findings = None
        lines.append("check stdout: " + checked.stdout)
    for finding in findings or ():
        lines.append(_finding_line(finding))
    lines.extend("check stderr: " + line for line in checked.stderr.splitlines())
    fixed = _run(["fix", *common, "--unsafe-fixes", "."], root, torchlint_dir)
    lines.append(f"fix exit {fixed.returncode}")
    lines.extend(fixed.stdout.splitlines())
    lines.extend("fix stderr: " + line for line in fixed.stderr.splitlines())
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("roots", type=Path, nargs="+")
    parser.add_argument("--torchlint", type=Path, default=None, help="a checkout whose torchlint to run")
    args = parser.parse_args()
    torchlint_dir = args.torchlint.resolve() if args.torchlint else None
    out: list[str] = []
    for root in sorted(args.roots):
        if root.is_dir():
            out.extend(snapshot(root.resolve(), torchlint_dir))
            print(f"{root}: {sum(1 for line in out if line.startswith('{'))} findings so far", file=sys.stderr)
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
