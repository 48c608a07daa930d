"""TL104 dataloader-no-persistent-workers: a loader with workers is iterated again and
again, and every new pass forks (or spawns) its worker processes anew."""

from __future__ import annotations

import re
from typing import Iterator

from torchlint.fixes import DISPLAY_ONLY, UNSAFE, Fix
from torchlint.rules.base import Effect, Finding, Rule
from torchlint.rules.loaders import LoaderCall, loader_calls, set_loader_keyword
from torchlint.semantic import api, expr
from torchlint.semantic.context import ModuleContext
from torchlint.semantic.values import Const, Dataset, Function, Instance, Opaque

# Methods that only read a dataset: calling them between epochs changes nothing workers see.
_READS = frozenset(("__len__", "__getitem__", "get", "items", "keys", "values", "size", "numel", "describe"))


class DataloaderNoPersistentWorkers(Rule):
    code = "TL104"
    name = "dataloader-no-persistent-workers"
    summary = "DataLoader with workers re-created at every pass (no persistent_workers=True)"
    fixes = (UNSAFE,)
    fix_scope = "(see Fix safety)"
    effect = Effect.ANY_DEVICE
    no_fix_reason = "no automatic fix: the loader is not torch's DataLoader, or torch is older than 1.7"

    def check(self, ctx: ModuleContext) -> Iterator[Finding]:
        if ctx.is_test:
            return
        for loader in loader_calls(ctx):
            arguments = loader.arguments
            if arguments.opaque or arguments.get("persistent_workers") is not None:
                continue  # set (even to False, on purpose), or maybe hidden in **kwargs
            count = _worker_count(arguments.get("num_workers"))
            if count is None:
                continue  # no workers to keep (TL101's finding), or a count we cannot read
            consumers = loader.feeding_accelerator(ctx)
            if not consumers or not any(_repeated(ctx, c) for c in consumers):
                continue  # iterated once
            if _dataset_changes_between_passes(ctx, loader, consumers):
                continue  # persistent workers would keep a stale copy
            yield Finding(
                loader.call.span,
                f"This DataLoader starts {count} again at every "
                "pass over it (every epoch, every validation), and the accelerator waits while they "
                "start and import; set `persistent_workers=True`",
                lambda loader=loader: self._fix(ctx, loader),
            )
        yield from self._hf_arguments(ctx)

    def _hf_arguments(self, ctx: ModuleContext) -> Iterator[Finding]:
        """`TrainingArguments(dataloader_num_workers=4)` without
        `dataloader_persistent_workers=True`, when the Trainer makes several passes (more
        than one epoch, the default 3, or evaluation during training)."""
        for qualname, _, call in ctx.calls():
            if not (expr.called_name(call) or "").endswith("TrainingArguments"):
                continue
            if ctx.callee(qualname, call) not in api.HF_TRAINING_ARGUMENTS:
                continue
            bound = ctx.bind(qualname, call, ())
            if bound.opaque or bound.get("dataloader_persistent_workers") is not None:
                continue
            count = _worker_count(bound.get("dataloader_num_workers"))
            if count is None:
                continue
            if not _several_passes(bound):
                continue
            yield Finding(
                call.span,
                f"The Trainer's DataLoaders start {count} again at every epoch and every "
                "evaluation; set `dataloader_persistent_workers=True` (transformers 4.37 or newer)",
                Fix(DISPLAY_ONLY, "Set `dataloader_persistent_workers=True` (needs transformers 4.37 or newer)"),
            )

    def _fix(self, ctx: ModuleContext, loader: LoaderCall) -> Fix:
        message = "Set `persistent_workers=True`"
        if ctx.loader_class(loader.site) != api.DATALOADER:
            return Fix(DISPLAY_ONLY, message + " (if this loader class passes it on to torch's DataLoader)")
        if ctx.torch_target.before((1, 7)):
            return Fix(DISPLAY_ONLY, message + " (needs torch 1.7 or newer; the project targets " + ctx.torch_target.describe() + ")")
        # Unsafe: what the main process changes on the dataset between epochs no longer
        # reaches the workers, which keep their copy from the first pass.
        return set_loader_keyword(ctx, loader, "persistent_workers", 99, False, "True", UNSAFE,
                                  message + " (workers keep the dataset as it was at the first pass)", [])


def _several_passes(bound) -> bool:
    """Epochs above one (the default is 3), or evaluation during training."""
    for key in ("eval_strategy", "evaluation_strategy"):
        strategy = bound.get(key)
        if strategy is not None and not all(isinstance(v, Const) and v.value in ("no", None) for v in strategy.values):
            return True
    if bound.get("max_steps") is not None:
        return False  # the number of passes depends on the dataset's size
    epochs = bound.get("num_train_epochs")
    if epochs is None:
        return True
    return bool(epochs.values) and all(isinstance(v, Const) and isinstance(v.value, (int, float)) and v.value > 1 for v in epochs.values)


def _worker_count(workers) -> str | None:
    """"4 worker processes" when every value of `num_workers` is a positive count (a
    literal, a default, `os.cpu_count()`), else None."""
    if workers is None or not workers.values:
        return None
    counts = set()
    for value in workers.values:
        if isinstance(value, Const) and type(value.value) is int and value.value > 0:
            counts.add(value.value)
        elif isinstance(value, Opaque) and value.qualname in ("os.cpu_count", "multiprocessing.cpu_count"):
            counts.add("os.cpu_count()")
        else:
            return None
    if len(counts) == 1 and isinstance(next(iter(counts)), int):
        count = next(iter(counts))
        return f"{count} worker process{'es' if count != 1 else ''}"
    return "its worker processes"


def _repeated(ctx: ModuleContext, consumer) -> bool:
    """Does the consumer iterate the loader more than once: a framework's loop (epochs,
    validation runs), a loop inside another loop, or in a function called in a loop?"""
    if consumer.how != "loop":
        return True
    function = ctx.function(consumer.qualname, consumer.module)
    if function is None or not 0 <= consumer.loop < len(function.loops):
        return False
    parent = function.loops[consumer.loop].parent
    while parent >= 0:
        if function.loops[parent].kind != "comp" and not _runs_once(ctx, consumer, function.loops[parent]):
            return True
        parent = function.loops[parent].parent
    return ctx.called_in_a_loop(consumer.qualname, consumer.module)


_MUTATING_NAME = re.compile(r"(?i)^(set_|update|reset|resample|shuffle|refresh|reload|regenerate|rebuild|next_|new_|advance|step|grow|shrink)|epoch|curriculum")


def _mutates(ctx: ModuleContext, module: str, qualname: str, call) -> bool:
    """Does the method change the dataset: a project method that assigns to attributes,
    or (for methods we cannot read) a name that says so (`set_epoch`, `resample`)?"""
    readable = False
    for target, _ in ctx.targets(qualname, call, module):
        function = getattr(target, "function", None) if not isinstance(target, Function) else target
        summary = ctx.function(function.qualname, function.module) if function is not None else None
        if summary is None:
            continue
        readable = True
        if summary.attr_stores or summary.item_stores:
            return True
    return not readable and bool(_MUTATING_NAME.search(expr.method(call)))


def _runs_once(ctx: ModuleContext, consumer, loop) -> bool:
    """`for epoch in range(1):` (often `range(num_epochs)` with `num_epochs = 1`)."""
    iterated = expr.result_of(loop.iter) if loop.kind == "for" and loop.iter is not None else None
    if iterated is None:
        return False
    function = ctx.function(consumer.qualname, consumer.module)
    call = function.calls[iterated]
    if expr.called_name(call) != "range" or len(call.args) != 1 or call.keywords:
        return False
    values = ctx.values(call.args[0], consumer.qualname, consumer.module)
    return bool(values) and all(isinstance(v, Const) and v.value == 1 for v in values)


def _dataset_changes_between_passes(ctx: ModuleContext, loader: LoaderCall, consumers) -> bool:
    """Does code around the passes call a method of the loader's dataset (other than a
    read) or set one of its attributes inside a loop: `train_set.resample()`,
    `loader.dataset.epoch = e`? Then the workers must see the change."""
    dataset = loader.arguments.get("dataset")
    if dataset is None:
        return False
    datasets = {v for v in dataset.values if isinstance(v, (Dataset, Instance))}
    spelled = dataset.expr if dataset.expr is not None and expr.name(dataset.expr) is not None else None
    frames = {(loader.site[0], loader.qualname)} | {(c.module, c.qualname) for c in consumers}
    for caller_module, caller, _, _ in [x for c in consumers for x in ctx.callers(c.qualname, c.module)]:
        frames.add((caller_module, caller))
    for module, qualname in frames:
        function = ctx.function(qualname, module)
        if function is None:
            continue
        for call in function.calls:
            method = expr.method(call)
            if method is None or not call.loops or method in _READS:
                continue
            receiver = expr.receiver(call)
            on_dataset = expr.attribute_name(receiver) == "dataset" or receiver == spelled or bool(
                datasets and datasets & set(ctx.values(receiver, qualname, module)))
            if on_dataset and _mutates(ctx, module, qualname, call):
                return True  # `train_set.resample()`, `loader.dataset.set_epoch(e)`
    return False
