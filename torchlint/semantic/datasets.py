"""What a DataLoader's dataset is known to be: rows already in memory, an iterable that
worker processes would duplicate, or code that makes accelerator tensors. Each one
changes which loader advice is right."""

from __future__ import annotations

from torchlint.semantic import api
from torchlint.semantic.evaluate import Evaluator
from torchlint.semantic.values import Dataset, Function, Instance, Seq, Tup
from torchlint.project.summary import spelled_name

IN_MEMORY = "in-memory"
ITERABLE_UNSHARDED = "iterable-unsharded"
MAKES_ACCELERATOR_TENSORS = "accelerator-tensors"
# The collate function returns objects of the project's own classes (detr's NestedTensor):
# the loader's pinning does not reach their tensors.
CUSTOM_BATCH = "custom-batch"


def loader_traits(training, site) -> frozenset:
    ev = training.ev
    return ev.memo("loader-traits", site, lambda: frozenset(_loader_traits(training, site)), frozenset())


def _loader_traits(training, site) -> set[str]:
    ev = training.ev
    traits: set[str] = set()
    bound = ev.loader_arguments(site)
    if bound is None:
        return traits
    collate = bound.get("collate_fn")
    if collate is not None:
        for value in collate.values:
            if isinstance(value, Function):
                if function_uses_accelerator(ev, value.module, value.qualname):
                    traits.add(MAKES_ACCELERATOR_TENSORS)
                if _holds_instances(ev.returns(value.module, value.qualname)):
                    traits.add(CUSTOM_BATCH)
    dataset = bound.get("dataset")
    if dataset is None:
        return traits
    moved = training.moved_data_sites()
    expr = dataset.expr
    if expr is not None and expr[0] == "n":
        module, line, col = site
        found = ev.project.call_at(module, line, col)
        defining = ev.defining_function(module, found[0], expr[1]) if found else None
        if defining is not None and (module, defining, expr[1]) in training.moved_names():
            traits.add(MAKES_ACCELERATOR_TENSORS)  # `data.to(device)`, then a loader over `data`
    for value in dataset.values:
        traits |= value_traits(ev, value)
        if isinstance(value, Dataset) and value.site is not None and value.site in moved:
            traits.add(MAKES_ACCELERATOR_TENSORS)  # `data.to(device)` on the graph a PyG loader samples from
    return traits


def _holds_instances(values) -> bool:
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, Instance):
            return True
        if isinstance(value, Tup):
            for item in value.items:
                stack.extend(item)
    return False


def value_traits(ev: Evaluator, value) -> set[str]:
    if isinstance(value, Dataset):
        traits = set()
        if value.kind == "rows":
            traits.add(IN_MEMORY)
        if value.device == "accel":
            traits.add(MAKES_ACCELERATOR_TENSORS)
        return traits
    if isinstance(value, (Seq, Tup)):
        return {IN_MEMORY}
    if isinstance(value, Instance):
        return set(class_traits(ev, value.module, value.qualname))
    return set()


def class_traits(ev: Evaluator, module: str, qualname: str) -> frozenset:
    return ev.memo("class-traits", (module, qualname), lambda: frozenset(_class_traits(ev, module, qualname)))


def _class_traits(ev: Evaluator, module: str, qualname: str) -> set[str]:
    traits: set[str] = set()
    chain, externals = ev.class_chain(module, qualname)
    methods = []
    for class_module, class_qualname in chain:
        info = ev.class_summary(class_module, class_qualname)
        methods += [(class_module, q) for q in info.methods.values()]
    if any(function_uses_accelerator(ev, m, q) for m, q in methods):
        traits.add(MAKES_ACCELERATOR_TENSORS)
    if "torch.utils.data.IterableDataset" in externals:
        shards = any(
            call.func[-1] == "get_worker_info" or (call.func[0] == "n" and call.func[1] == "get_worker_info")
            for m, q in methods
            for call in ev.function(m, q).calls
        )
        if not shards:
            traits.add(ITERABLE_UNSHARDED)
    getitem = ev.find_method(module, qualname, "__getitem__")
    if getitem is not None and _cheap_sample(ev, getitem.module, getitem.qualname, depth=2):
        traits.add(IN_MEMORY)
    return traits


def _cheap_sample(ev: Evaluator, module: str, qualname: str, depth: int) -> bool:
    """Does this method only index rows it already holds (no file reads, decoding or
    transforms)?"""
    function = ev.function(module, qualname)
    if function is None:
        return False
    frame = (module, qualname)
    for call in function.calls:
        func = call.func
        name = spelled_name(func)
        if name in api.CHEAP_SAMPLE_CALLS or name in ("items", "keys", "values"):
            continue
        if depth and func[0] == "a" and func[1] == ["n", function.params[0] if function.params else "self"]:
            targets = ev.targets(call, frame)
            if targets and all(hasattr(t, "function") and t.function is not None for t, _ in targets):
                if all(_cheap_sample(ev, t.function.module, t.function.qualname, depth - 1) for t, _ in targets):
                    continue
        return False
    return True


def function_uses_accelerator(ev: Evaluator, module: str, qualname: str) -> bool:
    """Moves tensors to a device or creates them there (`.cuda()`, `.to(device)`,
    `torch.ones(..., device="cuda")`)."""
    function = ev.function(module, qualname)
    if function is None:
        return False
    frame = (module, qualname)
    for call in function.calls:
        func = call.func
        if func[0] == "a" and func[2] == "cuda":
            return True
        if func[0] == "a" and func[2] == "to":
            kind = ev.move_device(call, frame)
            if kind is not None and kind not in ("cpu", "meta"):
                return True
        for keyword, value in call.keywords:
            if keyword == "device":
                kind = ev.device_kind(ev.eval(value, frame))
                if kind is not None and kind != "cpu":
                    return True
    return False
