"""The whole runtime validation in one command: `torchlint verify` over every runtime
fixture, then a JSON and a markdown report under benchmarks/results/.

    python benchmarks/verify_report.py --device cuda   # on a GPU machine (well under 5 minutes)
    python benchmarks/verify_report.py --device cpu    # the CPU table

Unsafe fixes are included (TL101's workers, random factories for TL202), so every fix is
measured; the report says which fixes are unsafe and how far their results moved.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=30)
    args = parser.parse_args()
    command = [sys.executable, "-m", "torchlint", "verify", "--device", args.device, "--repeats", str(args.repeats),
               "--max-steps", str(args.max_steps), "--unsafe-fixes", "--output-format", "json"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if not completed.stdout.strip():
        print(completed.stderr, file=sys.stderr)
        return 2
    report = json.loads(completed.stdout)
    report["machine"] = _machine(args.device)
    report["command"] = " ".join(["torchlint", *command[3:]])
    report["elapsed_s"] = round(elapsed, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"verify-{args.device}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (RESULTS / f"verify-{args.device}.md").write_text(table)
    print(table)
    print(f"written: {RESULTS / f'verify-{args.device}.json'} and .md ({elapsed:.0f} s); verify exited {completed.returncode}")
    return completed.returncode


def _machine(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} CPU ({__import__('os').cpu_count()} cores), torch {torch.__version__}"


def markdown(report: dict) -> str:
    lines = [
        f"`{report['command']}` on {report['machine']}, {date.today().isoformat()}",
        "",
        "| fixture | rules fixed | fix safety | same results (max diff) | speedup (median, range) | steps/s before → after | host-device syncs before → after | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in report["fixtures"]:
        same = "" if entry["equivalent"] is None else ("yes" if entry["equivalent"] else "no") + f" ({entry['max_difference']:.2g})"
        if entry["speedup"]:
            low, high = entry["speedup_spread"]
            speed = f"{entry['speedup']:.2f}x ({low:.2f}-{high:.2f})"
        else:
            speed = entry["speedup_note"] or ""
        rate = _rates(entry)
        status = "" if entry["status"] == "ok" else f" ({entry['status']})"
        syncs = entry.get("host_device_syncs")
        syncs = f"{syncs[0]} → {syncs[1]}" if syncs else ("not counted on cpu" if report["machine"].find("CPU") >= 0 else "")
        lines.append(f"| {entry['name']}{status} | {', '.join(entry['rules'])} | {entry['fix_safety'] or ''} | {same} | {speed} "
                     f"| {rate} | {syncs} | {_memory(entry)} |")
    return "\n".join(lines) + "\n"


def _memory(entry: dict) -> str:
    runs = entry["fixed"]
    peaks = [m["peak_memory_bytes"] for m in runs if m.get("peak_memory_bytes")]
    total = next((m["device_memory_bytes"] for m in runs if m.get("device_memory_bytes")), None)
    if not peaks or not total:
        return ""
    return f"{max(peaks) / 2**30:.2f} of {total / 2**30:.0f} GiB ({max(peaks) / total:.0%})"


def _rates(entry: dict) -> str:
    def rate(runs):
        """Median over the runs of steps per second over the timed window."""
        rates = sorted(run["timed_steps"] / run["timed_window_s"] for run in runs if run.get("timed_window_s"))
        return rates[len(rates) // 2] if rates else None

    before, after = rate(entry["original"]), rate(entry["fixed"])
    return f"{before:.1f} → {after:.1f}" if before and after else ""


if __name__ == "__main__":
    sys.exit(main())
