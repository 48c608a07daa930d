#!/usr/bin/env python3
"""Wall-clock benchmark: `torchlint check` vs TorchFix 0.7.0 on a real-world corpus.

Run from the repo root with the dev venv: `python benchmarks/bench_vs_torchfix.py`.
Stdlib only. Everything it downloads lives in benchmarks/.cache/ (gitignored).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
VENV = CACHE / "torchfix-venv"
TORCHFIX = VENV / "bin" / "torchfix"
CORPUS = CACHE / "corpus"
SINGLE = CACHE / "single" / "train.py"
TORCHFIX_VERSION = "0.7.0"
TRANSFORMERS = "transformers==5.24.0"
CORPUS_RE = re.compile(r"^transformers/models/[a-c][^/]*/.+\.py$")
TARGET = 20.0  # cold torchlint vs cold TorchFix
RUFF_VERSION = "0.17.6"
RUFF_VENV = CACHE / "ruff-venv"
RUFF = RUFF_VENV / "bin" / "ruff"
SINGLE_TARGET_MS = 250
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# This machine sets PYTHONDONTWRITEBYTECODE, which would make every run recompile the
# repo's torchlint sources (installed packages ship .pyc). Cache bytecode for both tools
# under .cache instead, as an installed tool would have it; lint caches stay off.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
# A finding is a "path:line:col" line; TorchFix also prints unified diffs to stdout.
FINDING = re.compile(r"^[^\s+\-@][^:]*\.py:\d+:\d+")

SINGLE_FILE = '''\
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def train(epochs=3):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = TensorDataset(torch.randn(1024, 32), torch.randint(0, 10, (1024,)))
    loader = DataLoader(data, batch_size=64, shuffle=True)
    model = Net().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        total = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item()
            print(f"step loss {loss.item():.4f}")
        print(epoch, total / len(loader))
        torch.save(model.state_dict(), "model.pt")
    q, r = torch.qr(torch.randn(4, 4))
    return model


if __name__ == "__main__":
    train()
'''


def sh(cmd, **kw):
    print("$", " ".join(map(str, cmd)), flush=True)
    subprocess.run(list(map(str, cmd)), check=True, **kw)


def prepare_torchfix() -> None:
    # Idempotent: reuse the venv if it already answers with the pinned version.
    if TORCHFIX.exists():
        out = subprocess.run([TORCHFIX, "--version"], capture_output=True, text=True)
        if out.stdout.strip() == TORCHFIX_VERSION:
            return
    # TorchFix 0.7.0 needs only flake8, PyYAML and libcst<1.6; it does not pull torch,
    # so no torch (CUDA or CPU) is installed here. Its own libcst pin is why it
    # gets a venv of its own (torchlint needs libcst>=1.8).
    sh([sys.executable, "-m", "venv", "--clear", VENV])
    sh([VENV / "bin" / "python", "-m", "pip", "install", "-q", f"torchfix=={TORCHFIX_VERSION}"])


def prepare_ruff() -> None:
    if RUFF.exists():
        out = subprocess.run([RUFF, "--version"], capture_output=True, text=True)
        if out.stdout.split()[-1:] == [RUFF_VERSION]:
            return
    sh([sys.executable, "-m", "venv", "--clear", RUFF_VENV])
    sh([RUFF_VENV / "bin" / "python", "-m", "pip", "install", "-q", f"ruff=={RUFF_VERSION}"])


def prepare_corpus() -> tuple[int, int]:
    done = CORPUS / ".complete"
    if not done.exists():
        shutil.rmtree(CORPUS, ignore_errors=True)  # a half-extracted corpus is redone
        wheels = CACHE / "wheels"
        sh([sys.executable, "-m", "pip", "download", "-q", "--no-deps", TRANSFORMERS, "-d", wheels])
        (whl,) = wheels.glob("transformers-5.24.0-*.whl")
        with zipfile.ZipFile(whl) as z:
            z.extractall(CORPUS, [n for n in z.namelist() if CORPUS_RE.match(n)])
        done.touch()
    files = sorted(CORPUS.rglob("*.py"))
    return len(files), sum(p.read_bytes().count(b"\n") for p in files)


def run_once(name: str, cmd: list, log: Path) -> dict:
    """One run in a fresh process; stdout goes to a log, only its findings are counted."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        process = subprocess.Popen(list(map(str, cmd)), stdout=out, stderr=subprocess.PIPE, text=True,
                                   cwd=REPO, env=ENV)
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
    # CPU seconds of the tool and its reaped workers: less sensitive than wall time to other
    # load. Peak memory: the largest process of the run (the tool or one of its workers).
    cpu = usage.ru_utime + usage.ru_stime
    p = process
    p.stderr = stderr
    text = ANSI.sub("", log.read_text(errors="replace"))
    findings = sum(1 for line in text.splitlines() if FINDING.match(line))
    # TorchFix exits 1 when libcst failed on some file; anything else non-zero is a crash.
    ok = p.returncode == 0 or (name == "torchfix" and p.returncode == 1 and "Traceback" not in p.stderr)
    # The corpus is model code without training loops: torchlint reports nothing there (its
    # rules need a training context), while TorchFix's pattern rules always find something.
    if not ok or (findings == 0 and cmd[-1] == CORPUS and name == "torchfix"):
        print(f"\n!! {name} run is broken (exit {p.returncode}, {findings} findings; "
              f"none on the corpus means it found no files or failed quietly)\n"
              f"   {' '.join(map(str, cmd))}\n   stderr tail:\n{p.stderr[-2000:]}", file=sys.stderr)
        sys.exit(2)  # 1 means FAIL against the target; 2 means the numbers are void
    # TorchFix skips files without the string "torch"; its stderr says how many it parsed.
    checked = re.search(r"Finished checking (\d+) files", p.stderr)
    return {"wall_s": wall, "cpu_s": cpu, "exit": p.returncode, "findings": findings,
            "files_checked": int(checked[1]) if checked else None, "max_rss_mb": usage.ru_maxrss / 1024}


def summary(rs: list[dict]) -> dict:
    walls = [x["wall_s"] for x in rs]
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "median_cpu_s": statistics.median(x["cpu_s"] for x in rs),
            "max_rss_mb": max(x.get("max_rss_mb", 0) for x in rs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="alternating corpus runs per tool (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for both tools (default 2)")
    ap.add_argument("--single-runs", type=int, default=10, help="runs of the single-file latency check")
    ap.add_argument("--warm-runs", type=int, default=5, help="alternating warm-cache torchlint / ruff runs")
    ap.add_argument("--torchlint-python", default=sys.executable, help="python that has torchlint")
    ap.add_argument("--only-torchfix", action="store_true",
                    help="skip torchlint (e.g. before its CLI exists)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()

    CACHE.mkdir(exist_ok=True)
    prepare_torchfix()
    prepare_ruff()
    nfiles, nlines = prepare_corpus()
    print(f"corpus: {nfiles} files, {nlines} lines ({TRANSFORMERS}, transformers/models/[a-c]*)")
    SINGLE.parent.mkdir(exist_ok=True)
    SINGLE.write_text(SINGLE_FILE)

    # TorchFix reads no .gitignore; turning torchlint's off gives both the same discovery work.
    tl = [args.torchlint_python, "-m", "torchlint", "check", "-j", args.jobs, "--select", "ALL",
          "--no-cache", "--exit-zero", "--output-format", "concise", "--no-respect-gitignore"]
    tf = [TORCHFIX, "--select", "ALL", "-j", args.jobs]
    tools = {"torchfix": tf} if args.only_torchfix else {"torchlint": tl, "torchfix": tf}
    for name, cmd in tools.items():
        print(f"{name}: {' '.join(map(str, cmd + [CORPUS]))}")
        run_once(name, cmd + [SINGLE], CACHE / f"{name}-warmup.out")  # fills the bytecode cache

    load = os.getloadavg()[0]
    if load > 0.5:  # on 2 cores, anything else running skews wall times (seen: 153 s vs 312 s)
        print(f"warning: load average {load:.1f} before starting; wall times will be noisy")
    # Alternate the tools so that drift in machine load hits both alike.
    runs: dict[str, list[dict]] = {name: [] for name in tools}
    for r in range(1, args.rounds + 1):
        for name, cmd in tools.items():
            res = run_once(name, cmd + [CORPUS], CACHE / f"{name}.out")
            runs[name].append(res)
            checked = f" ({res['files_checked']} files checked)" if res["files_checked"] else ""
            print(f"  round {r} {name:9s} {res['wall_s']:7.2f}s (cpu {res['cpu_s']:6.1f}s, "
                  f"peak {res['max_rss_mb']:.0f} MB)  exit {res['exit']}  {res['findings']} findings{checked}", flush=True)

    stats = {name: summary(rs) for name, rs in runs.items()}
    print()
    for name, s in stats.items():
        print(f"{name:9s} median {s['median_s']:.2f}s  (min {s['min_s']:.2f}s, max {s['max_s']:.2f}s; "
              f"median cpu {s['median_cpu_s']:.1f}s; peak memory {s['max_rss_mb']:.0f} MB)")

    result = {"corpus": {"files": nfiles, "lines": nlines, "source": TRANSFORMERS},
              "jobs": args.jobs, "load_avg_at_start": load,
              "commands": {n: list(map(str, c + [CORPUS])) for n, c in tools.items()},
              "runs": runs, "stats": stats, "target": TARGET}
    verdict = 0
    if "torchlint" in stats:
        ratio = stats["torchfix"]["median_s"] / stats["torchlint"]["median_s"]
        cpu_ratio = stats["torchfix"]["median_cpu_s"] / stats["torchlint"]["median_cpu_s"]
        passed = ratio >= TARGET
        verdict = 0 if passed else 1
        print(f"\ncold: torchlint is {ratio:.1f}x faster than TorchFix {TORCHFIX_VERSION} "
              f"(target >= {TARGET:g}x): {'PASS' if passed else 'FAIL'}  [cpu-time ratio {cpu_ratio:.1f}x]")
        result.update(ratio=ratio, cpu_ratio=cpu_ratio, passed=passed)

        # Warm: torchlint with its cache (filled by one untimed run) against ruff without one.
        warm_cmd = [c for c in tl if c != "--no-cache"]
        ruff_cmd = [RUFF, "check", "--select", "ALL", "--no-cache", "--exit-zero", "--no-respect-gitignore",
                    "--output-format", "concise"]
        shutil.rmtree(REPO / ".torchlint_cache", ignore_errors=True)
        run_once("torchlint", warm_cmd + [CORPUS], CACHE / "torchlint-warm.out")
        warm = {"torchlint (cache warm)": [], f"ruff {RUFF_VERSION} --no-cache": []}
        for _ in range(args.warm_runs):
            warm["torchlint (cache warm)"].append(run_once("torchlint", warm_cmd + [CORPUS], CACHE / "torchlint-warm.out"))
            warm[f"ruff {RUFF_VERSION} --no-cache"].append(run_once("ruff", ruff_cmd + [CORPUS], CACHE / "ruff.out"))
        warm_stats = {name: summary(rs) for name, rs in warm.items()}
        print()
        for name, s in warm_stats.items():
            print(f"{name:28s} median {s['median_s']:.2f}s  (min {s['min_s']:.2f}s, max {s['max_s']:.2f}s)")
        tl_warm, ruff_s = (s["median_s"] for s in warm_stats.values())
        warm_ratio = ruff_s / tl_warm
        print(f"warm: torchlint with its cache takes {1 / warm_ratio:.2f}x ruff's time "
              f"(target <= 1x): {'PASS' if warm_ratio >= 1 else 'FAIL'}")
        result.update(warm=warm_stats, warm_ratio=warm_ratio, warm_passed=warm_ratio >= 1)
        verdict = verdict or (0 if warm_ratio >= 1 else 1)

    # Pre-commit latency: one small file, fresh process each time, no cache.
    print(f"\nsingle file ({SINGLE.name}, {SINGLE_FILE.count(chr(10))} lines), {args.single_runs} runs:")
    single = {name: cmd[:cmd.index("-j")] + cmd[cmd.index("-j") + 2:] + [SINGLE]  # same flags minus -j
              for name, cmd in tools.items()}
    result["single_file"] = {}
    for name, cmd in single.items():
        s = summary([run_once(name, cmd, CACHE / f"{name}-single.out") for _ in range(args.single_runs)])
        result["single_file"][name] = s
        verdict_text = ""
        if name == "torchlint":
            single_passed = s["median_s"] * 1000 <= SINGLE_TARGET_MS
            verdict_text = f"  (target <= {SINGLE_TARGET_MS} ms: {'PASS' if single_passed else 'FAIL'})"
            verdict = verdict or (0 if single_passed else 1)
        print(f"  {name:9s} median {s['median_s'] * 1000:.0f} ms{verdict_text}  ({' '.join(map(str, cmd))})")

    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
