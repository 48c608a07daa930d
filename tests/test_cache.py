"""`.torchlint_cache/`: a second run reuses summaries and results; any change to the
project, the settings or the cache itself is noticed; a damaged or foreign entry is
ignored, never trusted; `--no-cache` neither reads nor writes."""

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import ROOT

from torchlint import cli
from torchlint.project import workspace

PROJECT = ROOT / "fixtures" / "projects" / "src_layout"


@pytest.fixture
def project(tmp_path, monkeypatch):
    target = tmp_path / "shapes"
    shutil.copytree(PROJECT, target)
    monkeypatch.chdir(target)
    return target


def check(*args):
    result = CliRunner().invoke(cli.main, ["check", "-j", "1", "--isolated", "--output-format", "concise", *args])
    assert result.exit_code in (0, 1), result.output
    return sorted(line for line in result.stdout.splitlines() if ": TL" in line)


def test_first_run_writes_the_cache_second_run_reuses_it(project, monkeypatch):
    first = check(".")
    cache = project / ".torchlint_cache"
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (cache / "CACHEDIR.TAG").is_file()
    assert len(first) == 10  # the src_layout fixture project's markers

    def no_summaries(files):
        raise AssertionError(f"summarized again: {[f.relpath for f in files]}")

    monkeypatch.setattr(workspace, "summarize_files", no_summaries)
    monkeypatch.setattr("torchlint.runner.summarize_files", no_summaries)
    assert check(".") == first


def test_a_change_in_another_module_updates_the_findings(project):
    assert any("data.py:10:20: TL101" in line for line in check("src/shapes/data.py"))
    train = project / "train.py"
    # The training loop no longer runs: nothing consumes the loader any more.
    train.write_text(train.read_text().replace("loss = train_one_epoch(", "loss = 0.0  # train_one_epoch("))
    assert not any("TL101" in line for line in check("src/shapes/data.py"))


def test_settings_are_part_of_the_key(project):
    everything = check(".")
    only = check(".", "--select", "TL203")
    assert only == [line for line in everything if "TL203" in line]
    assert check(".") == everything


def test_damaged_and_foreign_entries_are_ignored(project):
    first = check(".")
    entries = list((project / ".torchlint_cache").rglob("*.json"))
    assert entries
    for number, entry in enumerate(entries):
        if number % 2:
            entry.write_text("{not json")
        else:
            data = json.loads(entry.read_text())
            entry.write_text(json.dumps({"key": "someone else's", "data": data["data"]}))
    assert check(".") == first
    # The entries were written again, whole.
    assert all(json.loads(entry.read_text()).get("key") != "someone else's" for entry in entries)


def test_no_cache_reads_and_writes_nothing(project):
    check(".", "--no-cache")
    assert not (project / ".torchlint_cache").exists()


def test_a_read_only_project_is_checked_without_a_cache(project):
    check(".", "--no-cache")
    project.chmod(0o555)
    try:
        assert len(check(".")) == 10
    finally:
        project.chmod(0o755)
