"""How `torchlint check` scales: time and peak memory for single files of 10k and 100k
lines and for a tree of 2M lines (-j 1 and -j 2), against the acceptance targets of
issue 11: time linear in size within 2x, and under 500 MB for the 100k-line file.

The code is generated: a training module's worth of classes, loader factories and
training loops (with findings of several rules, fixable ones among them) repeated to
the size wanted. Every run is `--no-cache`, concise output, in a fresh process; peak
memory is the largest resident set of that process and its workers (ru_maxrss).

    python benchmarks/scale.py                 # all of it (about 10 minutes on 2 cores)
    python benchmarks/scale.py --tree-lines 200000   # a smaller tree
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = 'import torch\nfrom torch.utils.data import DataLoader\n\ndevice = torch.device("cuda")\n'
BLOCK = '''

class Net{i}(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)


def make_loader_{i}(dataset):
    return DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2)


def train_{i}(dataset, epochs=3):
    loader = make_loader_{i}(dataset)
    model = Net{i}().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    total = 0.0
    for epoch in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
    return total
'''


def module(lines: int) -> str:
    parts, count, index = [HEADER], HEADER.count("\n"), 0
    while count < lines:
        block = BLOCK.format(i=index)
        parts.append(block)
        count += block.count("\n")
        index += 1
    return "".join(parts)


def measure(arguments: list[str], cwd: Path) -> tuple[float, float, int]:
    """(seconds, peak MB, findings) of one `torchlint check` in a fresh process."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "result = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(elapsed, peak, result.stdout.count(': TL'), result.returncode)\n"
    )
    command = [sys.executable, "-m", "torchlint", "check", "--isolated", "--no-cache", "--output-format", "concise", *arguments]
    out = subprocess.run([sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True, check=True).stdout
    elapsed, peak_kb, findings, code = out.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"torchlint failed (exit {code}) on {arguments}")
    return float(elapsed), int(peak_kb) / 1024, int(findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree-lines", type=int, default=2_000_000)
    parser.add_argument("--file-lines", type=int, default=1000, help="lines per file of the tree")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="torchlint-scale-") as temporary:
        root = Path(temporary)
        (root / "pyproject.toml").write_text("")
        for lines in (10_000, 100_000):
            name = f"single_{lines}.py"
            (root / name).write_text(module(lines))
            rows.append((f"one file, {lines:,} lines", lines, *measure([name], root)))
        tree = root / "tree"
        tree.mkdir()
        text = module(options.file_lines)
        per_file = text.count("\n")
        count = max(1, options.tree_lines // per_file)
        for index in range(count):
            (tree / f"module_{index:05d}.py").write_text(text.replace("Net", f"Net{index}_"))
        total = per_file * count
        for jobs in ("1", "2"):
            rows.append((f"tree of {count:,} files, {total:,} lines, -j {jobs}", total, *measure(["-j", jobs, "tree"], root)))
    print(f"torchlint check --no-cache on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'input':<46} {'seconds':>8} {'peak MB':>8} {'µs/line':>8} {'findings':>9}")
    for label, lines, seconds, peak, findings in rows:
        print(f"{label:<46} {seconds:8.2f} {peak:8.0f} {seconds / lines * 1e6:8.1f} {findings:9,}")
    small, large = rows[0], rows[1]
    growth = (large[2] / small[2]) / (large[1] / small[1])
    print(f"time per line, 100k-line file / 10k-line file: {growth:.2f} (linear within 2x: {'yes' if 0.5 <= growth <= 2 else 'NO'})")
    print(f"peak memory of the 100k-line file: {large[3]:.0f} MB (target under 500 MB: {'yes' if large[3] < 500 else 'NO'})")
    tree_rate = rows[2][2] / rows[2][1]
    print(f"time per line, 2M-line tree (-j 1) / 10k-line file: {tree_rate / (small[2] / small[1]):.2f}")


if __name__ == "__main__":
    main()
