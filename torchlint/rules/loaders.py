"""What the three DataLoader rules share: the loader calls of a module, and where their
batches go (the project's loops and frameworks that consume them)."""

from __future__ import annotations

from dataclasses import dataclass
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
        an evaluation loop of a training program, or a framework's, which validates as
        it trains)."""
        wanted = ("cuda",) if cuda else ("cuda", "accel")
        return [
            c for c in self.consumers
            if c.evidence in wanted
            and (c.role == "train" or c.how != "loop" or ctx.training.in_training_program(c.module, c.qualname))
        ]


def loader_calls(ctx: ModuleContext) -> list[LoaderCall]:
    """The calls of the module that build a DataLoader (torch's, a subclass or a wrapper
    that hands its options to it); computed once per module for the three rules."""
    return ctx.ev.memo("loader-calls", ctx.relpath, lambda: _loader_calls(ctx), [])


def _loader_calls(ctx: ModuleContext) -> list[LoaderCall]:
    found = []
    for qualname, index, call in ctx.calls():
        func = call.func
        name = func[1] if func[0] == "n" else func[2] if func[0] == "a" else None
        # Loader classes and their subclasses are named so (`DataLoader`, `NeighborLoader`,
        # `ShaDowKHopSampler`, a project's `AudioDataLoader`): a cheap first sieve.
        if not isinstance(name, str):
            continue
        if not ("Loader" in name or name.endswith("Sampler")) and not (func[0] == "n" and _imported(ctx, qualname, name)):
            continue  # not a loader by its name, nor an alias (`DataLoader as DL`)
        site = ctx.site(call)
        if ctx.ev.loader_class(site) is None:
            continue
        arguments = ctx.ev.loader_arguments(site)
        if arguments is None:
            continue
        found.append(LoaderCall(qualname, index, call, site, arguments, ctx.training.consumers(site)))
    return found


def _imported(ctx: ModuleContext, qualname: str, name: str) -> bool:
    defining = ctx.ev.defining_function(ctx.relpath, qualname, name)
    if defining is None:
        return False
    return any(b.kind == "import" for b in ctx.function(defining).bindings.get(name, ()))
