"""TL201 model-not-on-device: the model trains on the CPU while an accelerator waits."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.facts import Facts
from torchlint.analysis.names import dotted_name
from torchlint.rules.base import ACCELERATOR_WORDS, DISPLAY_ONLY, SAFE, Fix, NodeEdit, Report, Rule


class ModelNotOnDevice(Rule):
    code = "TL201"
    name = "model-not-on-device"
    summary = "Model trained in a loop but never moved to the device"
    fix_availability = "safe, guarded"
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
                    self._fix(facts, loop, construction, spelled),
                )

    def _fix(self, facts: Facts, loop, construction, spelled: str) -> Fix:
        """`model = model.to(device)` right after the model is built, with the device variable
        the training loop already moves its inputs to (moving only the model would fail)."""
        device = self._loop_device(facts, loop)
        move = f"{spelled} = {spelled}.to({device or 'device'})"
        if device is None:
            return Fix(DISPLAY_ONLY, f"Add `{move}` and move the inputs too (the loop moves no inputs to a device variable)")
        visible = device.startswith("self.") or construction.scope.lookup(device.split(".")[0])
        if not visible:
            return Fix(DISPLAY_ONLY, f"Add `{move}` where `{device}` is defined")
        return Fix(SAFE, f"Add `{move}` after the model is built", [NodeEdit(construction.node, move, "line-after")])

    def _loop_device(self, facts: Facts, loop) -> str | None:
        """The device expression (`device`, `self.device`, `args.device`) the loop moves inputs to."""
        for site in facts.model.calls:
            if loop not in site.loops or not facts.moves_to_device(site.node, site.scope):
                continue
            func = site.node.func
            if not isinstance(func, cst.Attribute) or func.attr.value != "to":
                continue
            for arg in site.node.args:
                if arg.keyword is None or arg.keyword.value == "device":
                    spelled = dotted_name(arg.value)
                    if spelled is not None:
                        return spelled
                    break
        return None
