"""Kill `torchlint fix --apply` at random moments and check what it leaves behind.

A tree of fixable training scripts (copies of fixtures/fix/*.py, about 2.5 MB so that the
worker pool runs) is fixed once to learn each file's fully fixed bytes. Then, per trial,
a fresh copy is fixed with `-j 3` and the process gets SIGINT, SIGTERM or SIGKILL at a
random moment (half of them in the last fifth of the run, where files are written).
After each trial:

- every file is byte for byte the original or the fully fixed version;
- after SIGINT and SIGTERM no temporary file (`.*.torchlint`) remains;
- no process the run started is alive 3 seconds after the run ended.

    python benchmarks/faults.py --trials 30      # 30 per signal
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for p in (ROOT / "fixtures" / "fix").glob("*.py") if ".fixed" not in p.name and "unsafe" not in p.name)
COMMAND = [sys.executable, "-m", "torchlint", "fix", "--isolated", "--no-cache", "--apply", "--unsafe-fixes", "-j", "3", "."]


def make_tree(directory: Path, size: int) -> None:
    directory.mkdir()
    (directory / "pyproject.toml").write_text("")
    total, index = 0, 0
    while total < size:
        source = SOURCES[index % len(SOURCES)]
        target = directory / f"{source.stem}_{index:04d}.py"
        shutil.copyfile(source, target)
        total += target.stat().st_size
        index += 1


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="per signal")
    parser.add_argument("--size", type=int, default=2_500_000, help="bytes of source in the tree")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    problems: list[str] = []
    outcomes: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="torchlint-faults-") as temporary:
        base = Path(temporary)
        pristine = base / "pristine"
        make_tree(pristine, options.size)
        original = snapshot(pristine)
        reference = base / "reference"
        shutil.copytree(pristine, reference)
        started = time.perf_counter()
        subprocess.run(COMMAND, cwd=reference, env=env, capture_output=True, check=False)
        duration = time.perf_counter() - started
        fixed = snapshot(reference)
        changed = sum(fixed[name] != original[name] for name in original)
        print(f"tree: {len(original)} files, {sum(map(len, original.values())):,} bytes; a full run takes {duration:.1f} s "
              f"and changes {changed} files")
        for trial in range(options.trials):
            for sent in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                work = base / f"trial-{trial}-{sent.name}"
                shutil.copytree(pristine, work)
                delay = rng.uniform(0.8, 1.0) * duration if rng.random() < 0.5 else rng.uniform(0, duration)
                process = subprocess.Popen(COMMAND, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                seen: set[int] = set()
                deadline = time.perf_counter() + delay
                while time.perf_counter() < deadline and process.poll() is None:
                    seen |= descendants(process.pid)
                    time.sleep(0.02)
                seen |= descendants(process.pid)
                if process.poll() is None:
                    process.send_signal(sent)
                code = process.wait(timeout=60)
                after = snapshot(work)
                state = Counter()
                for name, data in after.items():
                    if name.endswith(".torchlint"):
                        state["temporary"] += 1
                        if sent != signal.SIGKILL:
                            problems.append(f"{work.name}: temporary file {name} left behind")
                    elif data == original.get(name):
                        state["original"] += 1
                    elif data == fixed.get(name):
                        state["fixed"] += 1
                    else:
                        problems.append(f"{work.name}: {name} is neither the original nor the fixed version")
                time.sleep(3)
                survivors = [pid for pid in seen if alive(pid)]
                if survivors:
                    problems.append(f"{work.name}: {len(survivors)} processes outlived the run by 3 s")
                    for pid in survivors:
                        os.kill(pid, signal.SIGKILL)
                done = "all fixed" if state["fixed"] == changed else "untouched" if not state["fixed"] else "partly fixed"
                outcomes[(sent.name, code, done)] += 1
                shutil.rmtree(work)
    for (name, code, state), count in sorted(outcomes.items()):
        print(f"{name:8} exit {code:4}  {state:13} x{count}")
    print(f"{options.trials * 3} kills; problems: {len(problems)}")
    for problem in problems[:20]:
        print("  " + problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
