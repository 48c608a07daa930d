"""`torchlint verify`: run a training script before and after `torchlint fix`, each in a
fresh process, and compare results and throughput.

The only part of torchlint besides the harness that imports torch (to compare the
trained parameters); `check` and `fix` never do.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.fixes.apply import applicable, fix_source
from torchlint.rules import all_rules
from torchlint.rules.base import Effect, Rule
from torchlint.sources import read_file

# Rules whose effect needs an accelerator to show (on the CPU their speedup means nothing),
# and rules whose fix only changes behaviour on torch before 2.0: each rule declares it.
GPU_ONLY_EFFECT = frozenset(rule.code for rule in all_rules() if rule.effect is Effect.GPU_ONLY)
TORCH_1_ONLY_EFFECT = frozenset(rule.code for rule in all_rules() if rule.effect is Effect.TORCH_1_ONLY)


@dataclass
class RunResult:
    status: str
    measurements: dict
    parameters_path: Path


@dataclass
class Verification:
    name: str
    status: str = "ok"
    rules: list[str] = field(default_factory=list)
    fix_safety: str | None = None
    equivalent: bool | None = None
    max_difference: float | None = None
    tolerance: float | None = None
    speedup: float | None = None
    speedup_spread: tuple[float, float] | None = None
    speedup_note: str | None = None
    original: list[dict] = field(default_factory=list)
    fixed: list[dict] = field(default_factory=list)
    syncs: tuple[int, int] | None = None  # host-device syncs (original, fixed), counted untimed on CUDA

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "rules": self.rules,
            "fix_safety": self.fix_safety,
            "equivalent": self.equivalent,
            "max_difference": self.max_difference,
            "tolerance": self.tolerance,
            "speedup": self.speedup,
            "speedup_spread": list(self.speedup_spread) if self.speedup_spread else None,
            "speedup_note": self.speedup_note,
            "original": self.original,
            "fixed": self.fixed,
            "host_device_syncs": list(self.syncs) if self.syncs else None,
        }

    @property
    def passed(self) -> bool:
        if self.status == "repaired" or self.status.startswith("nothing to fix"):
            return True
        if self.status != "ok":
            return False
        return self.fix_safety != "safe" or self.equivalent is not False


def step_time(measurements: dict) -> float | None:
    """Seconds per optimizer step over the timed window (after the warm-up step, the
    device synchronised only at its two edges), i.e. 1 / throughput."""
    window, steps = measurements.get("timed_window_s"), measurements.get("timed_steps")
    return window / steps if window and steps else None


def speedup_of(ratios: list[float]) -> tuple[float | None, tuple[float, float], str | None]:
    """(median speedup, (min, max), note) of per-repeat ratios: no ratio when the repeats
    spread wider than the speedup itself, since then the runs disagree more than the
    versions differ."""
    middle, low, high = statistics.median(ratios), min(ratios), max(ratios)
    if high - low > abs(middle - 1):
        return None, (low, high), f"inconclusive: runs spread {low:.2f}x-{high:.2f}x around {middle:.2f}x"
    return middle, (low, high), None


def run_script(source: Path, script: Path, args: list[str], workdir: Path, tag: str, *, max_steps: int, seed: int,
               timeout: float, device: str, mode: str = "timed") -> RunResult:
    """Run `source` as if it were `script` (same `__file__`, same directory on `sys.path`)."""
    result_path = workdir / f"{tag}.json"
    params_path = workdir / f"{tag}.pt"
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [sys.executable, "-m", "torchlint.runtime.harness", str(result_path), str(params_path),
               str(max_steps), str(seed), mode, str(source), str(script), *args]
    returncode, stderr = _run_harness(command, env, workdir, tag, timeout)
    if returncode is None:
        return RunResult(f"timed out after {timeout:g}s", {}, params_path)
    if returncode != 0 or not result_path.exists():
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return RunResult(f"harness failed: {last}", {}, params_path)
    measurements = json.loads(result_path.read_text(encoding="utf-8"))
    return RunResult(measurements["status"], measurements, params_path)


def _run_harness(command: list[str], env: dict, workdir: Path, tag: str, timeout: float) -> tuple[int | None, str]:
    """(exit code or None on a timeout, stderr) of the harness. Forked from the torch
    zygote (torch already imported: two seconds saved per run), or, where that cannot
    start, a new interpreter. Either way the run has its own process group, killed with
    everything it started on a timeout, an interrupt or SIGTERM."""
    from torchlint.runtime.zygote import shared

    if not os.environ.get("TORCHLINT_NO_ZYGOTE"):
        stderr_path = workdir / f"{tag}.stderr"
        try:
            code = shared().run(command[1:], Path.cwd(), env, workdir / f"{tag}.stdout", stderr_path, timeout)
        except OSError:
            pass  # run it the slow way
        else:
            return code, stderr_path.read_text(encoding="utf-8", errors="replace") if stderr_path.exists() else ""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return None, ""
    except BaseException:
        _kill_group(process)
        raise
    _kill_group(process)  # what the script left running after it exited
    return process.returncode, stderr


def _kill_group(process: subprocess.Popen) -> None:
    """The harness's process group killed (as the zygote kills its runs), then reaped."""
    from torchlint.runtime.zygote import kill_group

    kill_group(process.pid)
    try:
        process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def max_difference(first: Path, second: Path) -> float | None:
    """Largest absolute difference between two runs' trained parameters (None: not comparable)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. torch's notice that numpy is missing
        import torch

        a = torch.load(first)
        b = torch.load(second)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return None
    if not a:
        return 0.0
    return max(float((x.double() - y.double()).abs().max()) if x.numel() else 0.0 for x, y in zip(a, b))


def verify_script(script: Path, args: list[str], rules: list[Rule], *, unsafe: bool, repeats: int,
                  max_steps: int, timeout: float, device: str, seed: int = 0) -> Verification:
    report = Verification(script.parent.name if script.name == "train.py" else script.stem)
    try:
        source_file = read_file(script)
    except Exception as error:  # unreadable: say so, in one line
        report.status = f"cannot read: {error}"
        return report
    from torchlint.project.layout import find_root
    from torchlint.project.torch_target import resolve

    # The script's project decides which torch it targets (its pins), as for `fix`.
    fixed = fix_source(source_file.text, script.name, rules, unsafe, resolve(find_root(script)))
    if fixed.error:
        report.status = f"fix failed: {fixed.error}"
        return report
    problems = [d for d in fixed.remaining if d.kind != "finding"]
    if problems:  # a script torchlint cannot read cannot be verified: never "nothing to fix"
        d = problems[0]
        report.status = f"cannot check the script: {d.row}:{d.column}: {d.message}"
        return report
    report.rules = sorted(fixed.fixed)
    if not fixed.changed:
        hidden = sum(1 for d in fixed.remaining if not unsafe and applicable(d, True))
        report.status = "nothing to fix" + (f" ({hidden} unsafe fix{'es' if hidden != 1 else ''} need --unsafe-fixes)" if hidden else "")
        return report
    report.fix_safety = "unsafe" if fixed.applicability.get("unsafe") else "safe"

    with tempfile.TemporaryDirectory(prefix="torchlint-verify-") as temporary:
        workdir = Path(temporary)
        # The fixed version stays in the temporary directory; the harness runs it as the
        # original script (its `__file__` and directory), so nothing is written beside it.
        fixed_script = workdir / script.name
        fixed_script.write_bytes(fixed.source.encode(source_file.encoding))
        return _compare(report, script, fixed_script, args, workdir, repeats=repeats, max_steps=max_steps,
                        seed=seed, timeout=timeout, device=device)


def _compare(report: Verification, script: Path, fixed_script: Path, args: list[str], workdir: Path, *,
             repeats: int, max_steps: int, seed: int, timeout: float, device: str) -> Verification:
    options = dict(max_steps=max_steps, seed=seed, timeout=timeout, device=device)
    original = script.resolve()
    originals: list[RunResult] = []
    fixes: list[RunResult] = []
    for index in range(repeats):
        # Alternate, so that drift on the machine hits both versions alike.
        originals.append(run_script(original, original, args, workdir, f"original-{index}", **options))
        fixes.append(run_script(fixed_script, original, args, workdir, f"fixed-{index}", **options))
    report.original = [r.measurements | {"status": r.status} for r in originals]
    report.fixed = [r.measurements | {"status": r.status} for r in fixes]
    fixed_failures = [r.status for r in fixes if r.status != "ok"]
    original_failures = [r.status for r in originals if r.status != "ok"]
    if fixed_failures and original_failures and fixed_failures[0] == original_failures[0]:
        # Not the fix's fault: the script does not run here, before or after.
        report.status = f"the script fails before and after the fix: {original_failures[0]}"
        return report
    if fixed_failures:
        also = f" (the original fails too: {original_failures[0]})" if original_failures else ""
        report.status = f"fixed version failed: {fixed_failures[0]}{also}"
        return report
    if original_failures:
        # e.g. batches moved to CUDA while the model was not: the fix turns a crash
        # into a run, and there is nothing to compare against.
        report.status = "repaired"
        report.speedup_note = f"the original fails: {original_failures[0]}"
        return report
    if originals[0].measurements.get("steps", 0) == 0:
        report.status = "no optimizer step observed (training in child processes, as with mp.spawn, is not seen)"
        return report

    # Parameters and buffers of every repeat, original against fixed.
    differences = [max_difference(a.parameters_path, b.parameters_path) for a, b in zip(originals, fixes)]
    report.max_difference = None if any(d is None for d in differences) else max(differences)
    # Exactly equal on the CPU (deterministic kernels); on CUDA, within twice the
    # run-to-run difference of the original itself (non-deterministic kernels), or 1e-6.
    tolerance = 0.0
    measured_on = originals[0].measurements.get("device")
    if measured_on == "cuda":
        noise = max_difference(originals[0].parameters_path, originals[1].parameters_path) if repeats > 1 else None
        tolerance = max(1e-6, 2 * (noise or 0.0))
    report.tolerance = tolerance
    report.equivalent = report.max_difference is not None and report.max_difference <= tolerance

    ratios = []
    for before, after in zip(originals, fixes):
        slow, fast = step_time(before.measurements), step_time(after.measurements)
        if slow and fast:
            ratios.append(slow / fast)
    if measured_on == "cpu" and set(report.rules) <= GPU_ONLY_EFFECT:
        report.speedup_note = "not measurable on cpu"
    elif set(report.rules) <= TORCH_1_ONLY_EFFECT and _torch_major() >= 2:
        report.speedup_note = "not measurable on torch 2 (already its default)"
    elif ratios:
        report.speedup, report.speedup_spread, report.speedup_note = speedup_of(ratios)
    if measured_on == "cuda":
        # Counted in separate, untimed runs: the warnings that count them cost time.
        before = run_script(original, original, args, workdir, "original-syncs", mode="syncs", **options)
        after = run_script(fixed_script, original, args, workdir, "fixed-syncs", mode="syncs", **options)
        counts = before.measurements.get("host_device_syncs"), after.measurements.get("host_device_syncs")
        if None not in counts:
            report.syncs = counts
    return report


def _torch_major() -> int:
    import torch

    return int(torch.__version__.split(".")[0])


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def render_table(console, reports: list[Verification]) -> None:
    from rich.table import Table

    table = Table(title="torchlint verify", box=None, pad_edge=False)
    width = max((len(r.name) for r in reports), default=6)
    table.add_column("script", min_width=width, no_wrap=True)
    for column in ("status", "rules fixed", "safety", "same results", "max diff", "speedup", "steps/s before -> after",
                   "data wait", "syncs", "peak memory"):
        table.add_column(column, overflow="fold")
    for r in reports:
        before = [step_time(m) for m in r.original if m.get("timed_window_s")]
        after = [step_time(m) for m in r.fixed if m.get("timed_window_s")]
        rate = ""
        if before and after and all(before) and all(after):
            rate = f"{1 / statistics.median(before):.1f} -> {1 / statistics.median(after):.1f}"
        wait = ""
        if r.original and r.fixed and r.original[0].get("wall_s") and r.fixed[0].get("wall_s"):
            wait = f"{_wait_share(r.original):.0%} -> {_wait_share(r.fixed):.0%}"
        speed = r.speedup_note or (f"{r.speedup:.2f}x ({r.speedup_spread[0]:.2f}-{r.speedup_spread[1]:.2f})" if r.speedup else "")
        same = "" if r.equivalent is None else ("yes" if r.equivalent else "NO")
        diff = "" if r.max_difference is None else f"{r.max_difference:.2g}"
        syncs = f"{r.syncs[0]} -> {r.syncs[1]}" if r.syncs else ""
        table.add_row(r.name, r.status, ", ".join(r.rules), r.fix_safety or "", same, diff, speed, rate, wait, syncs,
                      _memory(r.fixed))
    console.print(table)


def _memory(runs: list[dict]) -> str:
    """Peak device memory against the device's: the headroom says whether the batch can grow."""
    peaks = [m["peak_memory_bytes"] for m in runs if m.get("peak_memory_bytes")]
    total = next((m["device_memory_bytes"] for m in runs if m.get("device_memory_bytes")), None)
    if not peaks or not total:
        return ""
    peak = max(peaks)
    return f"{peak / 2**30:.2f} of {total / 2**30:.0f} GiB ({peak / total:.0%})"


def _wait_share(runs: list[dict]) -> float:
    """Median share of the run spent waiting for the DataLoader."""
    shares = [m["data_wait_s"] / m["wall_s"] for m in runs if m.get("wall_s")]
    return statistics.median(shares) if shares else 0.0
