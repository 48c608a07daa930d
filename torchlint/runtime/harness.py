"""Run one training script as `__main__` and observe it from outside, through PyTorch's
own hooks. This runs in a fresh child process started by `torchlint verify`:

    python -m torchlint.runtime.harness RESULT.json PARAMS.pt MAX_STEPS SEED SCRIPT [ARGS...]

- optimizer steps: the global optimizer step post-hook counts them, times them and stops
  the run cleanly after MAX_STEPS (0: no limit);
- data wait: time spent in `next()` on DataLoader iterators;
- the trained parameters (every optimizer's parameter groups) are saved at the end, for
  the caller to compare two runs;
- seeds for `random`, numpy and torch are set before the script starts;
- on CUDA: synchronised step timing, peak memory, GPU utilisation sampled through NVML
  where `nvidia-ml-py` is installed, and the number of host-device synchronisations
  reported by `torch.cuda.set_sync_debug_mode("warn")`.
"""

from __future__ import annotations

import json
import os
import random
import runpy
import sys
import threading
import time
import warnings


class StopRun(BaseException):
    """Raised from the step hook after MAX_STEPS; a BaseException so that a script's own
    `except Exception:` cannot swallow it."""


def main(argv: list[str]) -> int:
    result_path, params_path, max_steps, seed, script, *script_args = argv
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
    state = {"steps": 0, "step_times": [], "data_wait": 0.0, "optimizers": [], "syncs": 0}
    last = [time.perf_counter()]

    def synchronize() -> None:
        if cuda:
            torch.cuda.synchronize()

    def on_step(optimizer, args, kwargs) -> None:
        synchronize()
        now = time.perf_counter()
        state["step_times"].append(now - last[0])
        last[0] = now
        state["steps"] += 1
        if all(optimizer is not known for known in state["optimizers"]):
            state["optimizers"].append(optimizer)
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
    if os.environ.get("TORCHLINT_EXTRA_PATH"):  # a fixed copy still imports its neighbours
        sys.path.insert(1, os.environ["TORCHLINT_EXTRA_PATH"])
    outcome = "ok"
    started = time.perf_counter()
    last[0] = started
    try:
        runpy.run_path(script, run_name="__main__")
    except StopRun:
        pass
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            outcome = f"exited with {exit_.code}"
    except BaseException as error:  # the script failed: report it, do not hide it
        outcome = f"{type(error).__name__}: {error}"
    synchronize()
    wall = time.perf_counter() - started
    stop_sampling.set()
    if cuda:
        torch.cuda.set_sync_debug_mode(0)

    parameters = [
        parameter.detach().to("cpu").clone()
        for optimizer in state["optimizers"]
        for group in optimizer.param_groups
        for parameter in group["params"]
    ]
    torch.save(parameters, params_path)
    result = {
        "status": outcome,
        "device": "cuda" if cuda else "cpu",
        "steps": state["steps"],
        "wall_s": wall,
        "step_times_s": state["step_times"],
        "data_wait_s": state["data_wait"],
        "parameters": len(parameters),
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "gpu_utilisation": (sum(utilisation) / len(utilisation)) if utilisation else None,
        "host_device_syncs": state["syncs"] if cuda else None,
    }
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


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
