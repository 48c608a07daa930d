"""TL101 dataloader-no-workers: batches are loaded in the training process."""

from __future__ import annotations

from typing import Iterator

from torchlint.analysis.datasets import dataset_traits
from torchlint.analysis.facts import DATALOADER_PARAMS, Facts
from torchlint.rules.base import ACCELERATOR_WORDS, Report, Rule


class DataloaderNoWorkers(Rule):
    code = "TL101"
    name = "dataloader-no-workers"
    summary = "DataLoader without worker processes in accelerator training"
    triggers = ("DataLoader",)
    requires = ACCELERATOR_WORDS

    def check(self, facts: Facts) -> Iterator[Report]:
        if not (facts.accelerator_evidence and facts.trains):
            return
        for site in facts.dataloader_calls:
            bound = facts.bind_call(site.node, site.scope, DATALOADER_PARAMS)
            workers = bound.get("num_workers")
            if workers is None:
                if bound.opaque:
                    continue  # may hide in **kwargs
                why = "`num_workers` defaults to 0"
            else:
                value = facts.value(*workers)
                if type(value) is not int or value != 0:
                    continue
                why = "`num_workers=0`"
            if dataset_traits(facts, bound):
                continue  # in memory, unsharded iterable, or CUDA in the dataset: 0 is right
            yield Report(
                site.node,
                f"DataLoader loads every batch in the training process ({why}), so the "
                "accelerator waits for data; set `num_workers=4` (up to the CPU cores per GPU)",
            )
