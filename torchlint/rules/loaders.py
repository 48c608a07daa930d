"""What the three DataLoader rules share: the loader calls of a module, and where their
batches go (the project's loops and frameworks that consume them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from torchlint.project.summary import Call
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.evaluate import BoundArgs
from torchlint.semantic.training import Consumer


@dataclass
class LoaderCall:
    qualname: str
    index: int
    call: Call
    site: tuple
    arguments: BoundArgs
    consumers: list[Consumer]

    def feeding_accelerator(self, ctx: ModuleContext, cuda: bool = False) -> list[Consumer]:
        """Consumers that use an accelerator, in a program that trains (a training loop,
        or an evaluation loop of a training program)."""
        wanted = ("cuda",) if cuda else ("cuda", "accel")
        return [
            c for c in self.consumers
            if c.evidence in wanted and (c.role == "train" or ctx.training.in_training_program(c.module, c.qualname))
        ]


def loader_calls(ctx: ModuleContext) -> Iterator[LoaderCall]:
    """The calls of the module that build a DataLoader (torch's, a subclass or a wrapper
    that hands its options to it)."""
    for qualname, index, call in ctx.calls():
        if call.func[0] not in ("n", "a"):
            continue
        site = ctx.site(call)
        if ctx.ev.loader_class(site) is None:
            continue
        arguments = ctx.ev.loader_arguments(site)
        if arguments is None:
            continue
        yield LoaderCall(qualname, index, call, site, arguments, ctx.training.consumers(site))
