"""Training contexts and frequency: which loops are training steps, how often a call
runs, which loaders feed which loops, which models are trained, and whether the code
around a training loop uses an accelerator.

- A *step call* is `loss.backward()`, `optimizer.step()` (also `scaler.step`,
  `manual_backward`, `accelerator.backward`), or a call of a function that performs one
  outside a loop of its own.
- A *step loop* is the loop that runs one training step per iteration: among the loops
  around a step call, the innermost that iterates a DataLoader's batches, else the
  innermost. Loops around a step loop, or around a call of a function that has its own
  step loop, are *epoch loops*. A *data loop* iterates a DataLoader's batches (training or
  evaluation).
- Frequency of a call: PER_STEP inside a step loop, or anywhere in a function that runs
  per step (called from such a loop, a framework's per-step hook, `forward()` of a module
  called per step); PER_BATCH in a data loop that is no training step (evaluation);
  EVERY_K when a guard (`if step % k == 0`, `if args.debug`, `if i == 0`, `except`)
  stands between it and that loop; PER_EPOCH in an epoch loop; ONCE otherwise.

`Training` is assembled from one mixin per concept:

- steps.py      step calls, functions that train, loop roles (STEP, EPOCH, DATA)
- frequency.py  per-step functions, guards, the frequency of a call
- placement.py  moves to an accelerator, placed models
- models.py     trained models and whether they have parameters
- loaders.py    the loops and frameworks that consume a DataLoader's batches
- evidence.py   accelerator evidence around a function
"""

from __future__ import annotations

from torchlint.semantic.evaluate import Evaluator
from torchlint.semantic.evidence import Evidence
from torchlint.semantic.frequency import Frequency, FrequencyModel
from torchlint.semantic.loaders import Consumer, LoaderConsumers, batch_sources
from torchlint.semantic.models import TrainedModels
from torchlint.semantic.placement import Placement
from torchlint.semantic.steps import DATA, EPOCH, STEP, Steps

__all__ = [
    "DATA", "EPOCH", "STEP", "Frequency", "Consumer", "Training", "batch_sources",
]


class Training(Steps, FrequencyModel, Placement, TrainedModels, LoaderConsumers, Evidence):
    def __init__(self, evaluator: Evaluator) -> None:
        self.ev = evaluator
        self._per_step: dict | None = None  # frequency.py
        self._per_step_roots: dict = {}  # frequency.py: (module, qualname) -> {(module, qualname, "train" | "eval")}
        self._root_evidence: dict = {}  # frequency.py: roots whose framework brings its own accelerator evidence
        self._moves: list | None = None  # placement.py
        self._consumers: dict | None = None  # loaders.py
