"""TL102 dataloader-no-pin-memory: host-to-device copies from pageable memory."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.datasets import MAKES_CUDA_TENSORS, dataset_traits
from torchlint.analysis.facts import DATALOADER_PARAMS, Facts
from torchlint.rules.base import DISPLAY_ONLY, SAFE, Fix, NodeEdit, Report, Rule
from torchlint.rules.editing import replace_node, torch_reference, with_keyword


class DataloaderNoPinMemory(Rule):
    code = "TL102"
    name = "dataloader-no-pin-memory"
    summary = "DataLoader feeding CUDA without pinned memory"
    fix_availability = "safe"
    triggers = ("DataLoader",)
    requires = ("cuda",)

    def check(self, facts: Facts) -> Iterator[Report]:
        if not (facts.cuda_evidence and facts.trains and facts.batches_go_to_device):
            return
        for site in facts.dataloader_calls:
            bound = facts.bind_call(site.node, site.scope, DATALOADER_PARAMS)
            pin = bound.get("pin_memory")
            if pin is None:
                if bound.opaque:
                    continue
                why = "`pin_memory` defaults to False"
            else:
                if facts.value(*pin) is not False:
                    continue
                why = "`pin_memory=False`"
            if MAKES_CUDA_TENSORS in dataset_traits(facts, bound):
                continue  # pinning CUDA tensors raises
            yield Report(
                site.node,
                f"DataLoader batches are copied to CUDA from pageable memory ({why}); set "
                "`pin_memory=True` for faster, asynchronous host-to-device copies",
                self._fix(facts, site.node, pin),
            )

    def _fix(self, facts: Facts, call: cst.Call, pin) -> Fix:
        """`pin_memory=torch.cuda.is_available()`: pinned where CUDA is, quiet on CPU-only hosts."""
        torch = torch_reference(facts)
        if torch is None:
            return Fix(DISPLAY_ONLY, "Set `pin_memory=torch.cuda.is_available()`")
        name, imports = torch
        value = f"{name}.cuda.is_available()"
        if pin is not None:
            edit = NodeEdit(pin[0], value)
        else:
            edit = replace_node(call, with_keyword(call, "pin_memory", value))
        return Fix(SAFE, f"Set `pin_memory={value}`", [edit, *imports])
