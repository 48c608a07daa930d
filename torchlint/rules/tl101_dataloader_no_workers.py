"""TL101 dataloader-no-workers: batches are loaded in the training process."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.datasets import dataset_traits, origin
from torchlint.analysis.facts import DATALOADER_PARAMS, BoundCall, Facts
from torchlint.rules.base import ACCELERATOR_WORDS, DISPLAY_ONLY, UNSAFE, Fix, NodeEdit, Report, Rule
from torchlint.rules.editing import import_edit, module_alias, name_is_free, replace_node, with_keyword


class DataloaderNoWorkers(Rule):
    code = "TL101"
    name = "dataloader-no-workers"
    summary = "DataLoader without worker processes in accelerator training"
    fix_availability = "unsafe, guarded"
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
                self._fix(facts, site, bound, workers),
            )

    def _fix(self, facts: Facts, site, bound: BoundCall, workers) -> Fix:
        """`num_workers=min(4, os.cpu_count() or 1)`, where worker processes are sure to work."""
        blocker = self._blocker(facts, bound)
        os_name = module_alias(facts, "os")
        imports = []
        if os_name is None:
            edit = import_edit(facts, "os") if name_is_free(facts, "os") else None
            if edit is None:
                blocker = blocker or "the name `os` is taken"
            else:
                os_name, imports = "os", [edit]
        value = f"min(4, {os_name or 'os'}.cpu_count() or 1)"
        message = f"Set `num_workers={value}`"
        if workers is not None and not isinstance(workers[0], cst.Integer):
            blocker = blocker or "the value comes from elsewhere (a constant or a command-line default); change it there"
        if blocker:
            return Fix(DISPLAY_ONLY, f"{message}; not applied: {blocker}")
        if workers is not None:
            edit = NodeEdit(workers[0], value)
        else:
            edit = replace_node(site.node, with_keyword(site.node, "num_workers", value))
        # Workers draw their seeds from the main random stream, so later random numbers
        # (dropout, augmentation) change: results differ from run to run of the old code.
        return Fix(UNSAFE, f"{message} (random streams change with worker processes)", [edit, *imports])

    def _blocker(self, facts: Facts, bound: BoundCall) -> str | None:
        """Why worker processes might fail here, or None when they are known to work."""
        dataset = bound.get("dataset")
        if dataset is None or not _map_style(facts, *dataset):
            return "the dataset is not known to be a map-style Dataset"
        for key in ("collate_fn", "worker_init_fn"):
            found = bound.get(key)
            if found is None:
                continue
            function = facts.local_function(*found)
            if function is None or function.scope.parent is not facts.model.module_scope or function.name == "<lambda>":
                return f"`{key}` must be a module-level function to reach worker processes"
        if not facts.model.has_main_guard:
            return "the script has no `if __name__ == \"__main__\":` guard, which spawned workers need"
        return None


def _map_style(facts: Facts, expr, scope) -> bool:
    expr, scope = origin(expr, scope)
    if not isinstance(expr, cst.Call):
        return False
    q = facts.call_qualname(expr, scope) or ""
    if q.startswith("torchvision.datasets.") or q in ("torch.utils.data.Subset", "torch.utils.data.ConcatDataset"):
        return True
    local = facts.local_class(expr.func, scope)
    if local is None:
        return False
    bases = facts.base_qualnames(local)
    return "torch.utils.data.Dataset" in bases and not facts.is_iterable_dataset_class(local)
