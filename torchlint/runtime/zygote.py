"""A process that imports torch once and forks a fresh child for every script it runs.

Importing torch takes about two seconds; `verify` runs each script several times, and the
test suite runs every fixture. Forked from a process that has only imported torch (no
CUDA context, no threads started), each child starts where a new interpreter would be
after `import torch`, runs its script in its own session (so that the script and all it
starts are killed together), and exits; nothing a script does reaches the next one.

    python -m torchlint.runtime.zygote      # speaks JSON lines on stdin/stdout

Request: {"argv": [...], "cwd": ..., "env": {...}, "stdout": path, "stderr": path}, where
argv is `["-m", module, *args]`, `["-c", code, *args]` or `[script, *args]`. Replies:
{"pid": N} when the child starts, then {"pid": N, "returncode": R} when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path


class Zygote:
    """The client: starts the process on first use; `run` is one script, start to end."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> bool:
        if self.process is not None and self.process.poll() is None:
            return True
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.process = subprocess.Popen([sys.executable, "-m", "torchlint.runtime.zygote"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        ready = self.process.stdout.readline()
        if ready.strip() != "ready":
            self.close()
            return False
        return True

    def run(self, argv: list[str], cwd: Path, env: dict, stdout: Path, stderr: Path, timeout: float | None) -> int | None:
        """The script's exit code, or None when it ran past `timeout` (then it and every
        process it started were killed). Raises OSError when the zygote cannot run it."""
        with self.lock:
            if not self.start():
                raise OSError("the torch zygote did not start")
            request = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(stdout), "stderr": str(stderr)}
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            started = json.loads(self.process.stdout.readline() or "{}")
            pid = started.get("pid")
            if pid is None:
                self.close()
                raise OSError("the torch zygote stopped")
            result: dict = {}
            reader = threading.Thread(target=lambda: result.update(json.loads(self.process.stdout.readline() or "{}")),
                                      daemon=True)
            reader.start()
            try:
                reader.join(timeout)
            except BaseException:  # interrupted: the script goes with us
                kill_group(pid)
                raise
            timed_out = reader.is_alive()
            if timed_out:
                kill_group(pid)
                reader.join(30)
            if reader.is_alive() or "returncode" not in result:
                self.close()
                raise OSError("the torch zygote stopped answering")
            kill_group(pid)  # whatever the script left running after it exited
            return None if timed_out else result["returncode"]

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.kill()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.process = None


def kill_group(pid: int) -> None:
    """SIGKILL to the session a run was started in: the script and all it started."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_shared: Zygote | None = None


def shared() -> Zygote:
    global _shared
    if _shared is None:
        _shared = Zygote()
    return _shared


# -- the zygote process ------------------------------------------------------------------


def serve() -> None:
    from torchlint.runner import _die_with_parent

    _die_with_parent(os.getppid())  # a client killed with SIGKILL takes its zygote along
    import torch  # noqa: F401  (the point: every child starts with it imported)

    try:  # what building the first optimizer imports (another second)
        import torch._dynamo  # noqa: F401
    except Exception:
        pass

    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"pid": pid, "returncode": code}), flush=True)


def _child(request: dict) -> None:
    from torchlint.runner import _die_with_parent

    code = 1
    try:
        os.setsid()
        _die_with_parent(os.getppid())
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What a new interpreter would have read from its environment at start-up.
        if os.environ.get("PYTHONWARNINGS") == "ignore":
            import warnings

            warnings.simplefilter("ignore")
        for entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
            if entry:
                sys.path.insert(0, entry)
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:
            import torch

            torch.set_num_threads(int(threads))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        code = _run(request["argv"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)  # as the interpreter prints `sys.exit("message")`
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # what a normal interpreter exit runs
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run(argv: list[str]) -> int:
    import runpy

    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path.insert(0, "")
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        script = os.path.abspath(argv[0])
        sys.argv = [argv[0], *argv[1:]]
        sys.path.insert(0, os.path.dirname(script))
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    serve()
