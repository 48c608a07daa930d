#!/usr/bin/env python3
"""Precision and recall of TL101-TL203 on labelled public training repositories.

    python benchmarks/realcode_eval.py LABELS_DIR REPOS_DIR [--only owner+name,...] [--show fp,fn]

LABELS_DIR holds one `<owner>+<name>.json` per repository, in it or in its subdirectories
(benchmarks/realcode/labels/A, B, ...: see benchmarks/realcode/README.md for the format and
how the labels were made); REPOS_DIR holds each repository checked out
at the labelled commit under the same `<owner>+<name>` name. Each repository is checked
as a user would (`torchlint check --no-cache <repo>`), one process per repository.

A finding matches a label with the same file, line and code. "problem" labels count for
recall; a finding on a "debatable" label counts neither way; any other finding in a file
the labeller read (`files_read`, labels, hard negatives) is a false positive candidate,
listed for reading (labels can miss real problems). Findings in files nobody read are
listed apart as unreviewed and counted in neither figure.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# A label file names the categories its labeller looked for ("categories"); the first
# sets, made before the training-step rules, covered the first six.
FIRST_CATEGORIES = ("TL101", "TL102", "TL103", "TL201", "TL202", "TL203")
CODES = ("TL101", "TL102", "TL103", "TL104", "TL105", "TL201", "TL202", "TL203", "TL204", "TL301", "TL302", "TL303", "TL401", "TL402", "TL403", "TL404")


def run_torchlint(repo: Path, codes) -> tuple[list[dict], float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--select", ",".join(codes), "--no-cache", "--exit-zero",
         "--output-format", "json", "--isolated", "."],
        cwd=repo, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    if result.stderr.strip():
        print(f"  {repo.name} (exit {result.returncode}) stderr: {result.stderr.strip()[:1500]}", file=sys.stderr)
    try:
        findings = json.loads(result.stdout)
    except ValueError:
        findings = []
    return [f for f in findings if f.get("code") in codes], elapsed


def _statement_of(repo: Path, relpath: str, cache: dict):
    """line -> (first, last) line of the innermost simple statement around it: a label
    and a finding in one statement (a `print` or a dict of several syncs) are one place."""
    if relpath not in cache:
        spans: dict = {}
        try:
            tree = ast.parse((repo / relpath).read_bytes())
        except (OSError, SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.stmt) and not hasattr(node, "body"):
                for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                    spans.setdefault(line, (node.lineno, node.end_lineno or node.lineno))
        cache[relpath] = spans
    return cache[relpath]


def _labelled_files(labels: dict) -> set[str]:
    """The files (or glob patterns) the labeller read."""
    scope = {entry["file"] for key in ("labels", "hard_negatives") for entry in labels.get(key, [])}
    for entry in labels.get("files_read", []):
        scope.add(entry.split(" (")[0].strip())
    return scope


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labels", type=Path)
    parser.add_argument("repos", type=Path)
    parser.add_argument("--only", help="comma-separated <owner>+<name> to evaluate")
    parser.add_argument("--codes", help="comma-separated rule codes to score (default: each label file's categories)")
    parser.add_argument("--show", default="fp,fn", help="what to list: fp, fn, tp (comma-separated)")
    parser.add_argument("--json", type=Path, help="also write the per-rule figures here")
    parser.add_argument("--adjudicated", type=Path, help="a JSON list of verdicts on findings the labels do not cover")
    args = parser.parse_args()
    show = set(args.show.split(",")) if args.show else set()

    totals = {code: Counter() for code in CODES}
    verdicts = {}
    if args.adjudicated:
        for entry in json.loads(args.adjudicated.read_text()):
            verdicts[(entry["repo"], entry["file"], entry["line"], entry["code"])] = entry["verdict"]
    listed = []
    for label_file in sorted(args.labels.rglob("*+*.json"), key=lambda p: p.name):
        name = label_file.stem
        if args.only and name not in args.only.split(","):
            continue
        repo = args.repos / name
        if not repo.is_dir():
            print(f"{name}: not checked out under {args.repos}, skipped", file=sys.stderr)
            continue
        labels = json.loads(label_file.read_text())
        categories = tuple(labels.get("categories", FIRST_CATEGORIES))
        if args.codes:
            categories = tuple(c for c in categories if c in args.codes.split(","))
        if not categories:
            continue
        wanted = {}
        for label in labels["labels"]:
            if label["category"] in categories:
                wanted[(label["file"], label["line"], label["category"])] = label
        scope = _labelled_files(labels)
        findings, elapsed = run_torchlint(repo, categories)
        found = {}
        for finding in findings:
            filename = Path(finding["filename"])
            relative = filename.relative_to(repo.resolve()).as_posix() if filename.is_absolute() else filename.as_posix()
            key = (relative.removeprefix("./"), finding["location"]["row"], finding["code"])
            found[key] = finding
        # A finding on another line of the statement a label marks matches it.
        statements: dict = {}
        for key in list(found):
            if key in wanted:
                continue
            spans = _statement_of(repo, key[0], statements)
            here = spans.get(key[1])
            for other in list(wanted):
                if other[0] == key[0] and other[2] == key[2] and other not in found and here is not None and spans.get(other[1]) == here:
                    found[other] = found.pop(key)
                    break
        per_repo = Counter()
        for key, finding in sorted(found.items()):
            label = wanted.get(key)
            code = key[2]
            verdict = verdicts.get((labels["repo"], *key))
            if label is None and verdict is not None:
                # A finding the labels miss, read and judged: a real problem, noise, or either.
                bucket = {"keep": "tp", "drop": "fp"}.get(verdict, "debatable-found")
                totals[code][bucket] += 1
                totals[code]["adjudicated"] += 1
                if bucket in ("tp", "fp"):
                    per_repo[bucket] += 1
                continue
            if label is None and not any(fnmatch.fnmatchcase(key[0], pattern) for pattern in scope):
                totals[code]["unreviewed"] += 1
                if "fp" in show:
                    listed.append(f"?? {name}/{key[0]}:{key[1]} {code} {finding['message'][:110]}")
            elif label is None:
                totals[code]["fp"] += 1
                per_repo["fp"] += 1
                if "fp" in show:
                    listed.append(f"FP {name}/{key[0]}:{key[1]} {code} {finding['message'][:110]}")
            elif label["verdict"] == "problem":
                totals[code]["tp"] += 1
                per_repo["tp"] += 1
                if "tp" in show:
                    listed.append(f"TP {name}/{key[0]}:{key[1]} {code}")
            else:
                totals[code]["debatable-found"] += 1
        for key, label in sorted(wanted.items()):
            if label["verdict"] == "problem" and key not in found:
                totals[key[2]]["fn"] += 1
                per_repo["fn"] += 1
                if "fn" in show:
                    listed.append(f"FN {name}/{key[0]}:{key[1]} {key[2]} -- {label['why'][:110]}")
        print(f"{name:50s} {elapsed:5.1f}s  tp {per_repo['tp']:3d}  fp {per_repo['fp']:3d}  fn {per_repo['fn']:3d}")

    print()
    for line in listed:
        print(line)
    print()
    print(f"{'rule':6s} {'tp':>4s} {'fp':>4s} {'fn':>4s} {'precision':>9s} {'recall':>7s} {'unreviewed':>10s} {'adjudicated':>11s}")
    all_counts = Counter()
    figures = {}
    for code in CODES:
        c = totals[code]
        all_counts.update(c)
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
        figures[code] = {**c, "precision": precision, "recall": recall}
        print(f"{code:6s} {c['tp']:4d} {c['fp']:4d} {c['fn']:4d} {precision:9.2f} {recall:7.2f} {c['unreviewed']:10d} {c['adjudicated']:11d}")
    c = all_counts
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    print(f"{'all':6s} {c['tp']:4d} {c['fp']:4d} {c['fn']:4d} {precision:9.2f} {recall:7.2f}")
    if args.json:
        figures["all"] = {**c, "precision": precision, "recall": recall}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
