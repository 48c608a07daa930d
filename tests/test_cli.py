"""The command line, run as a user runs it: a real subprocess on real files."""

import json
import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

TRAINING = dedent(
    """\
    import torch
    from torch.utils.data import DataLoader

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loader = DataLoader(dataset, batch_size=64)
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        x = x.to(device)
        with torch.autocast("cuda", enabled=torch.cuda.is_available()):
            loss = model(x).sum()
        loss.backward()
        optimizer.step()
    """
)
CLEAN = TRAINING.replace("batch_size=64)", "batch_size=64, num_workers=4, pin_memory=True)").replace(
    "x = x.to(device)", "x = x.to(device, non_blocking=True)"
)


def run(*args, cwd: Path, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        cwd=cwd,
        input=data,
        capture_output=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAINING)
    return tmp_path


def test_findings_exit_1_with_concise_lines_and_summary(project):
    result = run("check", "--output-format", "concise", cwd=project)
    assert result.returncode == 1
    lines = out(result).splitlines()
    assert lines[0].startswith("train.py:5:10: TL101 DataLoader loads every batch")
    assert lines[1].startswith("train.py:5:10: TL102 ")
    assert lines[1].startswith("train.py:5:10: TL102 [*] ")
    assert lines[-2:] == ["Found 2 errors.", "[*] 1 fixable with `torchlint fix --apply`."]


def test_clean_code_exits_0(tmp_path):
    (tmp_path / "train.py").write_text(CLEAN)
    result = run("check", cwd=tmp_path)
    assert result.returncode == 0, out(result)
    assert out(result).strip() == "All checks passed!"


def test_exit_zero(project):
    assert run("check", "--exit-zero", cwd=project).returncode == 0


def test_full_format_shows_a_code_frame(project):
    result = run("check", "--output-format", "full", "--select", "TL101", cwd=project)
    text = out(result)
    assert "5 | loader = DataLoader(dataset, batch_size=64)" in text
    assert "^^^^" in text and "TL101" in text
    assert text.strip().endswith("Found 1 error.")
    fixable = out(run("check", "--output-format", "full", "--select", "TL102", cwd=project))
    assert "= fix: Set `pin_memory=torch.cuda.is_available()`" in fixable
    assert "+loader = DataLoader(dataset, batch_size=64, pin_memory=torch.cuda.is_available())" in fixable


def test_json_is_shaped_like_ruff(project):
    result = run("check", "--output-format", "json", cwd=project)
    assert result.returncode == 1
    rows = json.loads(out(result))
    assert [r["code"] for r in rows] == ["TL101", "TL102"]
    row = rows[0]
    assert row["name"] == "dataloader-no-workers"
    assert row["location"] == {"row": 5, "column": 10}
    assert row["end_location"]["row"] == 5
    assert Path(row["filename"]) == project / "train.py"
    assert row["fix"]["applicability"] == "display-only" and row["fix"]["edits"] == []
    assert rows[1]["fix"]["applicability"] == "safe"
    assert rows[1]["fix"]["edits"][0]["content"].endswith("pin_memory=torch.cuda.is_available())")
    assert row["url"].endswith("TL101-dataloader-no-workers.md")
    # the url is a page that exists: the one shipped with the package
    from urllib.parse import unquote, urlparse

    assert row["url"].startswith("file://") and Path(unquote(urlparse(row["url"]).path)).is_file()


def test_statistics(project):
    result = run("check", "--statistics", cwd=project)
    lines = out(result).splitlines()
    assert lines[0].split("\t") == ["1", "TL101", "dataloader-no-workers"]
    assert lines[1].split("\t") == ["1", "TL102", "[*] dataloader-no-pin-memory"]  # fixable


@pytest.mark.parametrize(
    "args, codes",
    [
        (["--select", "TL101"], {"TL101"}),
        (["--select", "TL1", "--ignore", "TL102"], {"TL101"}),
        (["--select", "dataloader-no-pin-memory"], {"TL102"}),
        (["--select", "ALL", "--ignore", "TL1"], set()),
        (["--select", "TL2", "--extend-select", "TL102"], {"TL102"}),
        (["--ignore", "TL101,TL102"], set()),
    ],
)
def test_selection(project, args, codes):
    result = run("check", "--output-format", "json", *args, cwd=project)
    assert {r["code"] for r in json.loads(out(result))} == codes


def test_unknown_selector_is_a_usage_error(project):
    result = run("check", "--select", "TL999", cwd=project)
    assert result.returncode == 2
    assert "unknown rule selector `TL999`" in err(result)
    assert "Traceback" not in err(result)


def test_pyproject_configuration(project):
    (project / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL102"]\n')
    result = run("check", "--output-format", "json", cwd=project)
    assert {r["code"] for r in json.loads(out(result))} == {"TL101"}
    # --isolated ignores it, --config points elsewhere
    result = run("check", "--output-format", "json", "--isolated", cwd=project)
    assert {r["code"] for r in json.loads(out(result))} == {"TL101", "TL102"}
    other = project / "other.toml"
    other.write_text('[tool.torchlint]\nselect = ["TL102"]\n')
    result = run("check", "--output-format", "json", "--config", str(other), cwd=project)
    assert {r["code"] for r in json.loads(out(result))} == {"TL102"}


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[tool.torchlint]\nselct = ["TL1"]\n', "unknown key `selct`"),
        ('[tool.torchlint]\nselect = "TL1"\n', "`select` must be a list of strings"),
        ('[tool.torchlint]\nselect = ["TL7"]\n', "unknown rule selector `TL7`"),
        ('[tool.torchlint.small-batch-size]\nthreshold = "big"\n', "`threshold` must be a positive int"),
        ('[tool.torchlint.small-batch-size]\nlimit = 3\n', "unknown option `limit`"),
        ("[tool.torchlint\n", "cannot read"),
    ],
)
def test_bad_configuration_is_a_clear_error(project, toml, message):
    (project / "pyproject.toml").write_text(toml)
    result = run("check", cwd=project)
    assert result.returncode == 2
    assert message in err(result)
    assert len(err(result).strip().splitlines()) == 1
    assert "Traceback" not in err(result)


def test_small_batch_threshold_option(tmp_path):
    source = CLEAN.replace("batch_size=64", "batch_size=24")
    (tmp_path / "train.py").write_text(source)
    assert run("check", cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text(
        '[tool.torchlint]\nextend-select = ["TL103"]\n[tool.torchlint.small-batch-size]\nthreshold = 32\n'
    )
    result = run("check", "--output-format", "concise", cwd=tmp_path)
    assert "TL103 Training DataLoader uses `batch_size=24`" in out(result)


def test_per_file_ignores(project):
    (project / "pyproject.toml").write_text('[tool.torchlint.per-file-ignores]\n"train*.py" = ["TL101"]\n')
    result = run("check", "--output-format", "json", cwd=project)
    assert {r["code"] for r in json.loads(out(result))} == {"TL102"}


def test_noqa_comments(tmp_path):
    lines = TRAINING.splitlines()
    lines[4] += "  # noqa: TL101"
    (tmp_path / "a.py").write_text("\n".join(lines) + "\n")
    lines[4] = lines[4].replace("# noqa: TL101", "# noqa")
    (tmp_path / "b.py").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.py").write_text("# torchlint: noqa\n" + TRAINING)
    (tmp_path / "d.py").write_text("# torchlint: noqa: TL102\n" + TRAINING)
    result = run("check", "--output-format", "json", cwd=tmp_path)
    found = sorted((Path(r["filename"]).name, r["code"]) for r in json.loads(out(result)))
    assert found == [("a.py", "TL102"), ("d.py", "TL101")]


def test_discovery_honours_gitignore_and_default_excludes(project):
    for name in ("ignored_dir", ".venv", "build", "kept"):
        (project / name).mkdir()
        (project / name / "t.py").write_text(TRAINING)
    (project / "skip_me.py").write_text(TRAINING)
    (project / ".gitignore").write_text("ignored_dir/\nskip_*.py\n")
    result = run("check", "--output-format", "json", cwd=project)
    files = {Path(r["filename"]).relative_to(project).as_posix() for r in json.loads(out(result))}
    assert files == {"train.py", "kept/t.py"}
    result = run("check", "--output-format", "json", "--no-respect-gitignore", "--extend-exclude", "kept", cwd=project)
    files = {Path(r["filename"]).relative_to(project).as_posix() for r in json.loads(out(result))}
    assert files == {"train.py", "ignored_dir/t.py", "skip_me.py"}


def test_explicit_excluded_file_is_checked_unless_force_exclude(project):
    (project / "build").mkdir()
    (project / "build" / "gen.py").write_text(TRAINING)
    assert run("check", "build/gen.py", cwd=project).returncode == 1
    result = run("check", "--force-exclude", "build/gen.py", cwd=project)
    assert result.returncode == 0
    assert out(result).strip() == "All checks passed!"


def test_stdin_with_filename(tmp_path):
    result = run("check", "--output-format", "concise", "-", "--stdin-filename", "pkg/train.py", cwd=tmp_path, stdin=TRAINING)
    assert result.returncode == 1
    assert out(result).startswith("pkg/train.py:5:10: TL101")


def test_syntax_error_is_a_finding_with_position_and_others_still_checked(project):
    (project / "broken.py").write_text("import torch\nfrom torch.utils.data import DataLoader\ndef f(:\n    pass\n")
    result = run("check", "--output-format", "concise", cwd=project)
    assert result.returncode == 1
    text = out(result)
    assert "broken.py:3:" in text and "SyntaxError" in text
    assert "train.py:5:10: TL101" in text


def test_bad_files_get_one_line_each(project):
    (project / "latin1.py").write_bytes(b"import torch\nname = '\xe9t\xe9'\n")
    (project / "declared.py").write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nname = '\xe9t\xe9'\n")
    (project / "empty.py").write_text("")
    os.symlink(project / "does-not-exist.py", project / "dangling.py")
    result = run("check", "--output-format", "concise", ".", "empty.py", cwd=project)
    text = out(result)
    assert "latin1.py: error: cannot decode byte 21: not UTF-8 and no encoding declaration" in text
    assert "dangling.py: error: broken symbolic link" in text
    assert "declared.py" not in text  # decoded through its declaration
    assert "empty.py: empty file, nothing to check" in err(result)
    assert "train.py:5:10: TL101" in text
    assert "Traceback" not in text + err(result)
    assert result.returncode == 1


def test_missing_path_is_named_and_exits_2(project):
    result = run("check", "nope.py", "train.py", cwd=project)
    assert result.returncode == 2
    assert "nope.py: no such file or directory" in err(result)
    assert "train.py:5:10: TL101" in out(result)  # the other path is still checked


def test_parallel_and_serial_runs_agree(tmp_path):
    for index in range(12):
        (tmp_path / f"t{index}.py").write_text(TRAINING if index % 2 else CLEAN)
    serial = run("check", "-j", "1", "--output-format", "json", cwd=tmp_path)
    parallel = run("check", "-j", "2", "--no-cache", "--output-format", "json", cwd=tmp_path)
    assert json.loads(out(serial)) == json.loads(out(parallel))
    assert len(json.loads(out(serial))) == 12


def test_check_never_imports_torch(project):
    code = dedent(
        """
        import sys
        from torchlint.cli import main
        sys.argv = ["torchlint", "check", "-j", "1", "."]
        try:
            main()
        except SystemExit:
            pass
        assert "torch" not in sys.modules, "torch was imported"
        print("torch-free")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True)
    assert result.stdout.decode().strip().endswith("torch-free"), result.stderr.decode()


def test_rule_and_rules_commands(tmp_path):
    result = run("rule", "TL101", cwd=tmp_path)
    assert result.returncode == 0
    assert out(result).startswith("# dataloader-no-workers (TL101)")
    assert run("rule", "small-batch-size", cwd=tmp_path).returncode == 0
    bad = run("rule", "TL999", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown rule `TL999`" in err(bad)
    listing = json.loads(out(run("rules", "--output-format", "json", cwd=tmp_path)))
    from torchlint.rules import all_rules
    from torchlint.rules.base import Default

    assert [r["code"] for r in listing] == [rule.code for rule in all_rules()]
    assert [r["code"] for r in listing if not r["default"]] == [rule.code for rule in all_rules() if rule.default is Default.OPT_IN]


def test_version(tmp_path):
    from torchlint import __version__

    assert out(run("--version", cwd=tmp_path)).strip() == f"torchlint, version {__version__}"


def test_a_directory_named_explicitly_is_walked_even_if_gitignored(project):
    (project / "cache" / "deep").mkdir(parents=True)
    (project / "cache" / "deep" / "t.py").write_text(TRAINING)
    (project / ".gitignore").write_text("cache/\n")
    assert "cache" not in out(run("check", "--output-format", "concise", cwd=project))
    result = run("check", "--output-format", "concise", "cache", cwd=project)
    assert "cache/deep/t.py:5:10: TL101" in out(result)
    result = run("check", "--force-exclude", "cache/deep/t.py", cwd=project)
    assert out(result).strip() == "All checks passed!"


def test_small_batch_size_is_opt_in(tmp_path):
    # TL103 is off by default (half its findings on real code are prescribed batch sizes).
    (tmp_path / "train.py").write_text(CLEAN.replace("batch_size=64", "batch_size=4"))
    assert run("check", cwd=tmp_path).returncode == 0
    result = run("check", "--extend-select", "TL103", "--output-format", "concise", cwd=tmp_path)
    assert "TL103 Training DataLoader uses `batch_size=4`" in out(result)


def test_rough_edges_a_new_user_meets(project):
    # a missing path is an error, never "All checks passed!"
    missing = run("check", "missing.py", cwd=project)
    assert missing.returncode == 2 and "All checks passed!" not in out(missing)
    # `--stdin-filename` alone reads stdin, as ruff does
    piped = run("check", "--stdin-filename", "other.py", "--output-format", "concise", cwd=project, stdin=TRAINING)
    assert "other.py:5:10: TL101" in out(piped) and "train.py" not in out(piped)
    # ruff's muscle memory gets a hint, not a bare "no such option"
    for flag, hint in (("--fix", "torchlint fix --apply"), ("--diff", "torchlint fix")):
        wrong = run("check", flag, cwd=project)
        assert wrong.returncode == 2 and hint in err(wrong)
    # through a pipe, `rules` prints whole lines without trailing spaces
    listing = out(run("rules", cwd=project)).splitlines()
    assert any(line.startswith("TL101  dataloader-no-workers") for line in listing)
    assert all(line == line.rstrip() for line in listing)


def test_no_color_means_no_styles_at_all(project):
    result = subprocess.run([sys.executable, "-c", "import sys; from torchlint.cli import main; sys.argv = ['torchlint', 'check', '--output-format', 'concise', '.']; main()"],
                            cwd=project, capture_output=True, env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})
    assert b"\x1b[" not in result.stdout


def test_docs_url_setting_points_findings_at_published_pages(project):
    (project / "pyproject.toml").write_text('[tool.torchlint]\ndocs-url = "https://docs.example.org/rules/{code}.html"\n')
    [row, *_] = json.loads(out(run("check", "--output-format", "json", cwd=project)))
    assert row["url"] == "https://docs.example.org/rules/TL101.html"
    (project / "pyproject.toml").write_text('[tool.torchlint]\ndocs-url = "https://docs.example.org/"\n')
    bad = run("check", cwd=project)
    assert bad.returncode == 2 and "docs-url" in err(bad)


def test_progress_on_a_terminal_only(tmp_path):
    """A long run shows progress on stderr when it is a terminal; through a pipe, or with
    -q, stderr stays empty and stdout is the same."""
    import pty

    for index in range(60):
        (tmp_path / f"t{index}.py").write_text(CLEAN)
    piped = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert err(piped) == "" and out(piped).strip() == "All checks passed!"
    reader, writer = pty.openpty()
    result = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=writer, env={**os.environ, "TERM": "xterm"})
    os.close(writer)
    shown = b""
    while True:
        try:
            chunk = os.read(reader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(reader)
    assert result.stdout.decode().strip() == "All checks passed!"
    assert b"checking" in shown and b"/60" in shown


def test_gitignore_follows_git(tmp_path):
    """Anchored and unanchored patterns, `**`, directory-only patterns, negation, and a
    deeper .gitignore overriding a shallower one, as git decides them."""
    from torchlint.discovery import FileFilter

    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("/top.py\nbuild/\ndocs/**/gen_*.py\n*.tmp.py\n!keep.tmp.py\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("!again.tmp.py\nlocal.py\n")
    check = FileFilter(tmp_path, [], True).ignored_by_git
    cases = {
        ("top.py", False): True, ("sub/top.py", False): False,
        ("build", True): True, ("sub/build", True): True, ("build.py", False): False,
        ("docs/a/b/gen_x.py", False): True, ("docs/gen_y.py", False): True, ("gen_z.py", False): False,
        ("x.tmp.py", False): True, ("keep.tmp.py", False): False,
        ("sub/again.tmp.py", False): False, ("sub/local.py", False): True, ("local.py", False): False,
    }
    for (relative, is_dir), expected in cases.items():
        assert check(tmp_path / relative, is_dir) is expected, relative
