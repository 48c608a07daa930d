"""No input, signal or file system state makes torchlint crash, hang, lose an edit or
rewrite what it must not. Each test is the reproducer of a defect found by trying it as a
hostile user would (issue 11)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from torchlint import cli
from torchlint.sources import LintError, SourceFile, write_file

FIXABLE = """\
import torch
from torch.utils.data import DataLoader

loader = DataLoader(range(64), batch_size=8, num_workers=2, persistent_workers=True)
model = torch.nn.Linear(1, 1).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
with torch.autocast("cuda", dtype=torch.bfloat16):
    for x in loader:
        opt.zero_grad(set_to_none=True)
        model(x.float().cuda()[:, None]).sum().backward()
        opt.step()
"""
FIXED_LINE = "loader = DataLoader(range(64), batch_size=8, num_workers=2, persistent_workers=True, pin_memory=torch.cuda.is_available())"


def torchlint(*args, cwd: Path, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=cwd, input=stdin, capture_output=True,
                          timeout=timeout, env=env, check=False)


def in_process(*args):
    return CliRunner().invoke(cli.main, list(args))


def nested(depth: int) -> str:
    return "x = " + "(" * depth + "1" + ")" * depth + "\n"


# -- inputs that crashed or were misreported --------------------------------------------


@pytest.mark.parametrize("depth", [260, 1300])
def test_brackets_nested_beyond_pythons_limit_are_a_syntax_error_and_never_reach_libcst(tmp_path, depth):
    """1,300 levels segfaulted inside libcst's parser (exit 139, no output); between 250
    and 1,280 levels the file was reported clean although Python rejects it."""
    (tmp_path / "deep.py").write_text(nested(depth))
    (tmp_path / "train.py").write_text(FIXABLE)
    result = torchlint("check", "--isolated", "--no-cache", "--select", "TL102", "--output-format", "concise", ".", cwd=tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 1, result.stderr
    assert "deep.py:1:" in out and "SyntaxError: too many nested parentheses" in out
    assert "train.py:4:10: TL102" in out


def test_a_fifo_is_reported_not_read(tmp_path):
    """A FIFO named `*.py`, named or found in a walk, hung the run forever."""
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "train.py").write_text(FIXABLE)
    for argument in ("pipe.py", "."):
        result = torchlint("check", "--isolated", "--no-cache", "--select", "TL102", "--output-format", "concise",
                           argument, cwd=tmp_path, timeout=60)
        assert "pipe.py: error: not a regular file (a FIFO)" in result.stdout.decode(), result.stderr
        assert result.returncode == 1


def test_unreadable_directories_are_reported(tmp_path, monkeypatch):
    """An unreadable subdirectory was skipped silently and the run said "All checks
    passed!". Root reads everything, so where the test runs as root the directory
    listing is refused by the operating system call itself being replaced."""
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "train.py").write_text(FIXABLE)
    monkeypatch.chdir(tmp_path)
    if os.geteuid() != 0:
        os.chmod(tmp_path / "secret", 0)
    else:
        real_scandir = os.scandir

        def scandir(path="."):
            if os.path.basename(os.fspath(path)) == "secret":
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        result = in_process("check", "--isolated", "--no-cache", "--output-format", "concise", ".")
    finally:
        os.chmod(tmp_path / "secret", 0o755)
    assert "secret: error: cannot read directory: Permission denied" in result.stdout
    assert "All checks passed!" not in result.output and result.exit_code == 1


@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_missing_path_is_an_error_not_a_pass(tmp_path, command):
    result = torchlint(command, "--isolated", "--no-cache", "missing.py", cwd=tmp_path)
    assert result.returncode == 2
    assert b"missing.py: no such file or directory" in result.stderr
    assert b"All checks passed!" not in result.stdout + result.stderr


def test_code_that_python_parses_but_does_not_compile_is_judged_by_the_same_parser(tmp_path):
    """A notebook exported with a top-level `await` parses (the analysis reads it) but
    does not compile: `check` marked the finding fixable and `fix` refused it, blaming
    the rule ("would produce code that does not compile ... 'await' outside function")."""
    source = "import asyncio\n" + FIXABLE + "\nawait asyncio.sleep(0)\n"
    (tmp_path / "train.py").write_text(source)
    result = torchlint("fix", "--isolated", "--no-cache", "--select", "TL102", "--apply", "train.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert FIXED_LINE in (tmp_path / "train.py").read_text()
    # A fix that breaks the syntax is still refused.
    from torchlint.fixes.apply import compile_problem

    assert compile_problem("await x\nx = (\n", "t.py", original="await x\n") is not None


def test_check_and_fix_agree_on_syntax_newer_than_the_interpreter(tmp_path):
    """`type A = ...` (PEP 695) on an interpreter without it: libcst accepts the file, so it
    is no syntax error, but Python's parser cannot summarize it; `check` must not offer a
    fix that `fix` then refuses."""
    import ast

    try:
        ast.parse("type A = int")
        pytest.skip("this Python parses PEP 695")
    except SyntaxError:
        pass
    (tmp_path / "train.py").write_text(FIXABLE + "\ntype Batch = list[int]\n")
    checked = torchlint("check", "--isolated", "--no-cache", "--output-format", "concise", "train.py", cwd=tmp_path)
    fixed = torchlint("fix", "--isolated", "--no-cache", "--apply", "train.py", cwd=tmp_path)
    assert checked.returncode == 0 and b"[*]" not in checked.stdout
    assert fixed.returncode == 0 and b"does not compile" not in fixed.stderr


def test_syntax_warnings_of_the_users_code_are_not_printed(tmp_path):
    (tmp_path / "train.py").write_text(FIXABLE + 'pattern = "\\d+"\nsame = len(pattern) is 3\n')
    result = torchlint("fix", "--isolated", "--no-cache", "--select", "TL102", "--apply", "train.py", cwd=tmp_path)
    assert result.returncode == 0 and b"SyntaxWarning" not in result.stderr, result.stderr


# -- what fix writes ------------------------------------------------------------------


def test_a_read_only_file_is_refused(tmp_path):
    """A file of mode 0444 was replaced (a new inode through the rename) even as its
    owner had said it must not change."""
    path = tmp_path / "train.py"
    path.write_text(FIXABLE)
    os.chmod(path, 0o444)
    inode = path.stat().st_ino
    result = torchlint("fix", "--isolated", "--no-cache", "--select", "TL102", "--apply", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    assert b"train.py: not written: the file is read-only; not changed" in result.stderr
    assert b"Fixed" not in result.stdout  # nothing was
    assert path.read_text() == FIXABLE and path.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # no temporary file left


def test_an_edit_made_while_fix_runs_is_never_overwritten(tmp_path):
    """The file is compared with what was read just before it is replaced."""
    path = tmp_path / "train.py"
    path.write_text(FIXABLE)
    read = path.read_bytes()
    path.write_text(FIXABLE + "# the user's edit\n")
    with pytest.raises(LintError, match="changed on disk"):
        write_file(SourceFile(path, "train.py", read), FIXABLE.replace("True)", "True, pin_memory=True)"), expected=read)
    assert path.read_text().endswith("# the user's edit\n")
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_owner_and_group_are_kept_when_root_fixes_a_users_file(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(FIXABLE)
    os.chown(path, 1234, 2345)
    result = torchlint("fix", "--isolated", "--no-cache", "--select", "TL102", "--apply", "train.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    status = path.stat()
    assert (status.st_uid, status.st_gid) == (1234, 2345) and FIXED_LINE in path.read_text()


def test_stdin_fixes_come_back_in_the_inputs_encoding(tmp_path):
    """Latin-1 input under a coding line came back as UTF-8 ("café" became "cafÃ©");
    a byte order mark was dropped."""
    latin = ("# -*- coding: latin-1 -*-\n" + FIXABLE + 'name = "café"\n').encode("latin-1")
    result = torchlint("fix", "--isolated", "--select", "TL102", "-", cwd=tmp_path, stdin=latin)
    assert result.stdout == latin.replace(FIXABLE.splitlines()[3].encode(), FIXED_LINE.encode())
    bom = b"\xef\xbb\xbf" + FIXABLE.encode()
    result = torchlint("fix", "--isolated", "--select", "TL102", "-", cwd=tmp_path, stdin=bom)
    assert result.stdout.startswith(b"\xef\xbb\xbfimport torch") and FIXED_LINE.encode() in result.stdout


# -- signals ----------------------------------------------------------------------------


def big_tree(directory: Path, files: int = 300) -> None:
    """Enough code (about 2.5 MB) that a run takes seconds and uses the worker pool."""
    body = FIXABLE + "".join(f"\n\ndef helper_{i}(x):\n    return [x * {i} for _ in range(3)]\n" for i in range(120))
    for index in range(files):
        (directory / f"module_{index}.py").write_text(body)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its entry waits for the reaper


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_signals_exit_with_the_shells_codes_and_workers_never_outlive_the_run(tmp_path):
    """Ctrl-C exited 1 (the "findings remain" code); after SIGKILL of the main process,
    its pool workers kept running."""
    big_tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torchlint", "check", "--isolated", "--no-cache", "--select", "TL102", "-j", "3", "."]
    for sent, expected in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)):
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not children_of(process.pid) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        workers = children_of(process.pid)
        assert workers, "the run ended before its workers started"
        process.send_signal(sent)
        assert process.wait(timeout=30) == expected
        if sent == signal.SIGINT:
            assert b"Traceback" not in process.stderr.read()
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if alive(pid)], f"workers outlived the run after {sent.name}"
        process.stderr.close()


# -- verify -----------------------------------------------------------------------------


def test_verify_refuses_a_script_it_cannot_parse(tmp_path):
    """A script with a syntax error exited 0 with "nothing to fix"."""
    pytest.importorskip("torch")
    (tmp_path / "broken.py").write_text("import torch\ndef train(:\n    pass\n")
    result = torchlint("verify", "--device", "cpu", "--output-format", "json", "broken.py", cwd=tmp_path)
    assert result.returncode != 0
    assert b'"status": "cannot check the script: 2:11: SyntaxError: invalid syntax"' in result.stdout


def test_verify_does_not_blame_the_fix_for_a_script_that_fails_anyway(tmp_path):
    pytest.importorskip("torch")
    script = (ROOT / "fixtures" / "runtime" / "tl102_pageable_batches.py").read_text()
    (tmp_path / "train.py").write_text(script.replace("def main():\n", "def main():\n    raise SystemExit('no dataset here')\n"))
    result = torchlint("verify", "--device", "cpu", "--repeats", "1", "--max-steps", "2", "--output-format", "json",
                       "train.py", cwd=tmp_path)
    import json

    [entry] = json.loads(result.stdout)["fixtures"]
    assert entry["status"].startswith("the script fails before and after the fix"), entry["status"]
    assert result.returncode != 0


def test_verify_kills_what_the_script_started_when_it_times_out(tmp_path):
    """Children the script started survived the timeout of the script."""
    pytest.importorskip("torch")
    from torchlint.runtime.verify import run_script

    marker = tmp_path / "child.pid"
    (tmp_path / "train.py").write_text(
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n"
    )
    script = tmp_path / "train.py"
    started = time.monotonic()
    result = run_script(script, script, [], tmp_path, "run", max_steps=1, seed=0, timeout=4, device="cpu")
    assert result.status == "timed out after 4s" and time.monotonic() - started < 30
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_worker_that_dies_costs_no_file(tmp_path):
    """A dead worker turned into a BrokenProcessPool traceback, exit 1 and no findings for
    any file. Its files are summarized again, each in a process of its own."""
    big_tree(tmp_path)
    args = ["check", "--isolated", "--no-cache", "--select", "TL102", "--output-format", "concise", "."]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "torchlint", *args, "-j", "3"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not children_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = children_of(process.pid)
    assert workers, "the run ended before its workers started"
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and b"Traceback" not in stderr, stderr[-2000:]
    # Every file has its one finding, as in a run where no worker died.
    found = sorted(line.split(":")[0] for line in stdout.decode().splitlines() if ": TL102 " in line)
    assert found == sorted(p.name for p in tmp_path.glob("module_*.py"))


def test_verify_interrupted_leaves_no_process_and_no_temporary_directory(tmp_path):
    """On SIGTERM the harness kept running the script, and the hidden copy and the
    temporary directory stayed behind."""
    pytest.importorskip("torch")
    script = (ROOT / "fixtures" / "runtime" / "tl102_pageable_batches.py").read_text()
    marker = tmp_path / "started"
    (tmp_path / "train.py").write_text(script.replace(
        "def main():\n", f"def main():\n    import time\n    open({str(marker)!r}, 'w').close()\n    time.sleep(300)\n"))
    private = tmp_path / "tmp"  # verify's own temporary directory goes here
    private.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(private)}
    process = subprocess.Popen([sys.executable, "-m", "torchlint", "verify", "--device", "cpu", "--repeats", "1", "train.py"],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the script never started"
    running, frontier = set(), [process.pid]
    while frontier:  # the zygote, the script, what the script started
        children = children_of(frontier.pop())
        running.update(children)
        frontier.extend(children)
    assert running
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in running if alive(pid)]
    assert list(private.glob("torchlint-verify-*")) == []  # (torch keeps its own cache there)
