"""TL103 small-batch-size: too few samples per step to keep the GPU busy."""

from __future__ import annotations

from typing import Iterator

from torchlint.analysis.facts import DATALOADER_PARAMS, Facts
from torchlint.rules.base import Report, Rule


class SmallBatchSize(Rule):
    code = "TL103"
    name = "small-batch-size"
    summary = "Training DataLoader with a very small batch size"
    no_fix_reason = "no automatic fix: a larger batch changes the optimisation"
    triggers = ("DataLoader",)

    def check(self, facts: Facts) -> Iterator[Report]:
        threshold = self.options.small_batch_threshold
        if not facts.trains or facts.accumulates_gradients:
            return
        for site in facts.dataloader_calls:
            bound = facts.bind_call(site.node, site.scope, DATALOADER_PARAMS)
            if bound.get("batch_sampler") is not None:
                continue
            found = bound.get("batch_size")
            if found is None:
                if bound.opaque:
                    continue
                size, why = 1, "`batch_size=1` (the default)"
            else:
                size = facts.value(*found)
                if type(size) is not int:
                    continue  # None (pre-batched data), unknown, or not a number
                why = f"`batch_size={size}`"
            if size >= threshold or size <= 0:
                continue
            if not facts.is_training_loader(site):
                continue  # evaluation, sampling or visualisation loaders may be small
            yield Report(
                site.node,
                f"Training DataLoader uses {why}: each step does too little work to fill the "
                f"GPU; use `batch_size={max(threshold, 32)}` or more (scale the learning rate "
                "with it, or accumulate gradients)",
            )
