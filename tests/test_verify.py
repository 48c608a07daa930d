"""`torchlint verify` on the CPU over the bundled runtime fixtures: every fixture runs,
safe fixes keep the trained parameters exactly equal, and the TL101 fix is faster."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("torch")
RUNTIME = sorted((ROOT / "fixtures" / "runtime").glob("*.py")) + sorted((ROOT / "fixtures" / "runtime").glob("*/train.py"))
NAMES = {path.parent.name if path.name == "train.py" else path.stem for path in RUNTIME}


@pytest.fixture(scope="module")
def report():
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", "--device", "cpu", "--repeats", "1", "--max-steps", "8",
         "--unsafe-fixes", "--output-format", "json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def test_every_runtime_fixture_ran(report):
    names = {entry["name"] for entry in report["fixtures"]}
    assert names == NAMES
    for entry in report["fixtures"]:
        assert entry["status"] == "ok", entry
        assert entry["rules"], entry
        for run in entry["original"] + entry["fixed"]:
            assert run["steps"] == 8 and run["device"] == "cpu"


def test_every_fixable_rule_has_a_runtime_fixture(report):
    fixed = {code for entry in report["fixtures"] for code in entry["rules"]}
    from torchlint.rules import all_rules

    assert {rule.code for rule in all_rules() if rule.fixes} <= fixed


def test_safe_fixes_keep_the_results_exactly(report):
    safe = [entry for entry in report["fixtures"] if entry["fix_safety"] == "safe"]
    assert safe
    for entry in safe:
        assert entry["equivalent"] is True and entry["max_difference"] == 0.0, entry["name"]


def test_unsafe_fixes_report_their_difference(report):
    unsafe = [entry for entry in report["fixtures"] if entry["fix_safety"] == "unsafe"]
    assert unsafe
    for entry in unsafe:
        assert entry["max_difference"] is not None


def test_tl101_fix_is_faster_on_the_cpu(report):
    [entry] = [e for e in report["fixtures"] if e["name"] == "tl101_slow_loading"]
    assert entry["speedup"] > 1.3, entry["speedup"]


def test_gpu_only_effects_say_so_on_the_cpu(report):
    [entry] = [e for e in report["fixtures"] if e["name"] == "tl102_pageable_batches"]
    assert entry["speedup"] is None and entry["speedup_note"] == "not measurable on cpu"


def test_a_user_script_with_arguments(tmp_path):
    script = tmp_path / "train.py"
    script.write_text((ROOT / "fixtures" / "runtime" / "tl101_slow_loading.py").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", str(script), "--device", "cpu", "--repeats", "1",
         "--max-steps", "5", "--unsafe-fixes", "--select", "TL101", "--output-format", "json", "--", "--epochs", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [entry] = json.loads(result.stdout)["fixtures"]
    assert entry["status"] == "ok" and entry["rules"] == ["TL101"]
    assert entry["name"].endswith("train.py")


def test_scripts_that_find_their_data_through_file_still_run(tmp_path):
    """The fixed copy runs beside the original, so `__file__`-relative paths hold."""
    source = (ROOT / "fixtures" / "runtime" / "tl203_discarded_move.py").read_text()
    source = source.replace("def main():\n", "def main():\n    open(os.path.join(os.path.dirname(__file__), 'labels.txt')).read()\n")
    (tmp_path / "train.py").write_text("import os\n" + source)
    (tmp_path / "labels.txt").write_text("0 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", str(tmp_path / "train.py"), "--device", "cpu", "--repeats", "1",
         "--max-steps", "3", "--output-format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    [entry] = json.loads(result.stdout)["fixtures"]
    assert entry["status"] == "ok", entry["status"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "train.py"]  # the copy is gone


def test_eval_without_grad_fix_keeps_the_results(report):
    [entry] = [e for e in report["fixtures"] if e["name"] == "tl401_eval_with_grad"]
    assert entry["fix_safety"] == "safe" and entry["equivalent"] is True


def test_buffers_are_compared_too(report):
    # The TL401 fixture trains batch norm: its running statistics are compared as well.
    [entry] = [e for e in report["fixtures"] if e["name"] == "tl401_eval_with_grad"]
    assert all(run["tensors_compared"] > run["parameters"] for run in entry["original"])


def test_only_unsafe_fixes_without_unsafe_fixes_is_a_pass(tmp_path):
    script = tmp_path / "train.py"
    script.write_text((ROOT / "fixtures" / "runtime" / "tl101_slow_loading.py").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", str(script), "--device", "cpu", "--select", "TL101", "--output-format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    [entry] = json.loads(result.stdout)["fixtures"]
    assert entry["status"].startswith("nothing to fix (1 unsafe fix")
    assert result.returncode == 0


def test_the_fixed_version_runs_as_the_original_without_a_copy_beside_it(tmp_path):
    script = tmp_path / "train.py"
    source = (ROOT / "fixtures" / "runtime" / "tl203_discarded_move.py").read_text()
    script.write_text(source.replace(
        'if __name__ == "__main__":',
        'import os\nwith open(os.path.join(os.path.dirname(__file__), "seen.txt"), "a") as log:\n'
        '    log.write(__file__ + "\\n")\n\nif __name__ == "__main__":',
    ))
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", str(script), "--device", "cpu", "--repeats", "1", "--max-steps", "3",
         "--output-format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "seen.txt").read_text().splitlines() == [str(script)] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seen.txt", "train.py"]


def test_a_spread_wider_than_the_speedup_is_no_ratio():
    from torchlint.runtime.verify import speedup_of

    assert speedup_of([1.4, 1.5, 1.6])[0] == 1.5
    speedup, spread, note = speedup_of([0.9, 1.05, 1.3])
    assert speedup is None and spread == (0.9, 1.3) and note.startswith("inconclusive")


def test_the_running_total_fix_prints_the_same_figures(tmp_path):
    # TL301's fix changes no parameter: what it must keep is every printed total, digit for digit.
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    source = (ROOT / "fixtures" / "runtime" / "tl301_loss_total_synced.py").read_text()
    fixed = fix_source(source, "t.py", build_rules({"TL301"}, RuleOptions()))
    assert fixed.fixed["TL301"] == 2 and ".detach().double()" in fixed.source
    outputs = []
    for name, text in (("original.py", source), ("fixed.py", fixed.source)):
        (tmp_path / name).write_text(text)
        run = subprocess.run([sys.executable, str(tmp_path / name)], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("mean loss") == 2
