"""Run one training script as `__main__` and observe it from outside, through PyTorch's
own hooks. This runs in a fresh child process started by `torchlint verify`:

    python -m torchlint.runtime.harness RESULT.json PARAMS.pt MAX_STEPS SEED MODE SOURCE SCRIPT [ARGS...]

SOURCE is the file to run (a fixed version, in a temporary directory); SCRIPT is the path
it runs as: its `__file__`, `sys.argv[0]` and the first entry of `sys.path`, so that a
fixed copy finds what the original finds without being written beside it.

- optimizer steps: the global optimizer step post-hook counts them and stops the run
  cleanly after MAX_STEPS (0: no limit);
- timing (MODE "timed"): the device is synchronised only at the edges of the timed
  window, after the warm-up step and at the end, so the CPU may run ahead of the GPU as
  it does without torchlint; throughput is steps over that window;
- syncs (MODE "syncs", CUDA only, never timed): host-device synchronisations counted
  through `torch.cuda.set_sync_debug_mode("warn")`;
- data wait: time spent in `next()` on DataLoader iterators;
- the trained parameters (every optimizer's parameter groups) and the buffers of the
  modules that own them (batch-norm statistics, found at the first step, outside the
  timed window) are saved at the end, for the caller to compare runs;
- seeds for `random`, numpy and torch are set before the script starts;
- on CUDA: peak memory against the device's memory, and GPU utilisation sampled through
  NVML where `nvidia-ml-py` is installed.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import warnings


class StopRun(BaseException):
    """Raised from the step hook after MAX_STEPS; a BaseException so that a script's own
    `except Exception:` cannot swallow it."""


WARMUP_STEPS = 1  # the first step pays for lazy initialisation: outside the timed window


def main(argv: list[str]) -> int:
    result_path, params_path, max_steps, seed, mode, source, script, *script_args = argv
    max_steps, seed = int(max_steps), int(seed)

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass

    cuda = torch.cuda.is_available()
    state = {"steps": 0, "data_wait": 0.0, "optimizers": [], "owners": [], "syncs": 0, "window_start": None}

    def synchronize() -> None:
        if cuda:
            torch.cuda.synchronize()

    def on_step(optimizer, args, kwargs) -> None:
        state["steps"] += 1
        if all(optimizer is not known for known in state["optimizers"]):
            state["optimizers"].append(optimizer)
            # Before the timed window: the modules that own its parameters, for their
            # buffers at the end (the script's locals are gone by then).
            state["owners"].extend(_owners_of([p for group in optimizer.param_groups for p in group["params"]]))
        if state["steps"] == WARMUP_STEPS and mode == "timed":
            synchronize()  # the one sync at the start of the timed window
            state["window_start"] = time.perf_counter()
        if max_steps and state["steps"] >= max_steps:
            raise StopRun

    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(on_step)

    from torch.utils.data import dataloader

    original_next = dataloader._BaseDataLoaderIter.__next__

    def timed_next(self):
        start = time.perf_counter()
        try:
            return original_next(self)
        finally:
            state["data_wait"] += time.perf_counter() - start

    dataloader._BaseDataLoaderIter.__next__ = timed_next

    utilisation: list[float] = []
    stop_sampling = threading.Event()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        _start_nvml_sampler(utilisation, stop_sampling)
    if cuda and mode == "syncs":
        torch.cuda.set_sync_debug_mode("warn")
        original_showwarning = warnings.showwarning

        def count_syncs(message, category, filename, lineno, file=None, line=None):
            if "synchronizing" in str(message):
                state["syncs"] += 1
                return
            original_showwarning(message, category, filename, lineno, file, line)

        warnings.showwarning = count_syncs
        warnings.filterwarnings("always", message=".*synchroniz")

    sys.argv = [script, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    outcome = "ok"
    started = time.perf_counter()
    try:
        _run_as_main(source, script)
    except StopRun:
        pass
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            outcome = f"exited with {exit_.code}"
    except BaseException as error:  # the script failed: report it, do not hide it
        outcome = f"{type(error).__name__}: {error}"
    synchronize()  # the one sync at the end of the timed window
    ended = time.perf_counter()
    wall = ended - started
    stop_sampling.set()
    if cuda and mode == "syncs":
        torch.cuda.set_sync_debug_mode(0)

    parameters = [
        parameter
        for optimizer in state["optimizers"]
        for group in optimizer.param_groups
        for parameter in group["params"]
    ]
    buffers = [b.detach().to("cpu").clone() for module in state["owners"] for _, b in module.named_buffers(recurse=False)]
    tensors = [p.detach().to("cpu").clone() for p in parameters] + buffers
    torch.save(tensors, params_path)
    timed_steps = state["steps"] - WARMUP_STEPS
    window = ended - state["window_start"] if state["window_start"] is not None and timed_steps > 0 else None
    result = {
        "status": outcome,
        "mode": mode,
        "device": "cuda" if cuda else "cpu",
        "steps": state["steps"],
        "wall_s": wall,
        "timed_steps": timed_steps if window is not None else 0,
        "timed_window_s": window,
        "data_wait_s": state["data_wait"],
        "parameters": len(parameters),
        "tensors_compared": len(tensors),
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "device_memory_bytes": torch.cuda.get_device_properties(0).total_memory if cuda else None,
        "gpu_utilisation": (sum(utilisation) / len(utilisation)) if utilisation else None,
        "host_device_syncs": state["syncs"] if cuda and mode == "syncs" else None,
    }
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


def _run_as_main(source: str, script: str) -> None:
    """Execute `source` as the `__main__` module of `script`."""
    import types

    with open(source, "rb") as handle:
        code = compile(handle.read(), os.path.abspath(script), "exec")
    module = types.ModuleType("__main__")
    module.__file__ = os.path.abspath(script)
    module.__builtins__ = __builtins__
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module  # pickling for worker processes finds its classes here
    try:
        exec(code, module.__dict__)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _owners_of(parameters: list) -> list:
    """The modules that own these parameters directly, in the parameters' order."""
    import gc

    import torch

    wanted = {id(p) for p in parameters}
    owners = {}
    for obj in gc.get_objects():
        if isinstance(obj, torch.nn.Module):
            for parameter in obj.parameters(recurse=False):
                if id(parameter) in wanted:
                    owners.setdefault(id(parameter), obj)
    found, seen = [], set()
    for parameter in parameters:
        module = owners.get(id(parameter))
        if module is not None and id(module) not in seen:
            seen.add(id(module))
            found.append(module)
    return found


def _start_nvml_sampler(samples: list[float], stop: threading.Event) -> None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no nvidia-ml-py, or no NVML: utilisation stays unknown
        return

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))

    threading.Thread(target=sample, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
