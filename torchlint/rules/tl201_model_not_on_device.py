"""TL201 model-not-on-device: the model trains on the CPU while an accelerator waits."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.facts import Facts
from torchlint.analysis.names import dotted_name
from torchlint.rules.base import ACCELERATOR_WORDS, Report, Rule


class ModelNotOnDevice(Rule):
    code = "TL201"
    name = "model-not-on-device"
    summary = "Model trained in a loop but never moved to the device"
    triggers = ("backward", ".step(")
    requires = ACCELERATOR_WORDS

    def check(self, facts: Facts) -> Iterator[Report]:
        if not facts.accelerator_evidence or facts.hf_trainers or facts.lightning_trainers:
            return
        reported: set[int] = set()
        for loop in facts.training_loops:
            if not facts.sets_up_accelerator(loop.function):
                continue
            for site in facts.model.calls:
                if loop not in site.loops:
                    continue
                func = site.node.func
                if not isinstance(func, (cst.Name, cst.Attribute)) or dotted_name(func) is None:
                    continue
                if facts.kind_of(func, site.scope) != "module":
                    continue
                bindings = facts.bindings_for(func, site.scope)
                construction = next(
                    (b for b in bindings if b.kind == "assign" and not facts.is_self_transform(b)), None
                )
                if construction is None or id(construction.node) in reported:
                    continue
                if not facts.has_parameters(construction):
                    continue  # losses and activations have nothing to move
                names = facts.alias_group(func, site.scope)
                if names & facts.moved_names:
                    continue
                reported.add(id(construction.node))
                spelled = dotted_name(func)
                device = facts.device_name_in_scope(site.scope) or "device"
                yield Report(
                    construction.node,
                    f"`{spelled}` is trained in a loop but never moved to the accelerator, so "
                    f"forward and backward run on the CPU; add `{spelled}.to({device})` before "
                    "building the optimizer",
                )
