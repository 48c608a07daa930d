"""DataLoaders: everything the semantic layer knows about them, in one place.

- what a loader built at a call site is: its bound arguments, its class (a project
  subclass of DataLoader reads as torch's), and the batches iterating it yields
  (`LoaderValues`, mixed into `Evaluator`);
- where its batches are used: the loops that iterate them and the frameworks that run
  the loop (`Consumer`, `LoaderConsumers`, mixed into `Training`);
- what its dataset is known to be: rows already in memory, an iterable that worker
  processes would duplicate, or code that makes accelerator tensors (`loader_traits`);
  each one changes which loader advice is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torchlint.project.summary import Call, spelled_name
from torchlint.semantic import api
from torchlint.semantic.evidence import strongest_evidence
from torchlint.semantic.params import BoundArgs
from torchlint.semantic.steps import STEP
from torchlint.semantic.values import (
    Bound,
    Class,
    Dataset,
    External,
    Framework,
    Function,
    Instance,
    Loader,
    Seq,
    Tensor,
    Tup,
)

if TYPE_CHECKING:
    from torchlint.semantic.evaluate import Evaluator

IN_MEMORY = "in-memory"
ITERABLE_UNSHARDED = "iterable-unsharded"
MAKES_ACCELERATOR_TENSORS = "accelerator-tensors"
# The collate function returns objects of the project's own classes (detr's NestedTensor):
# the loader's pinning does not reach their tensors.
CUSTOM_BATCH = "custom-batch"


@dataclass(frozen=True)
class Consumer:
    """Where a DataLoader's batches are used: a loop, or a framework that runs the loop."""

    role: str  # "train" | "eval"
    module: str
    qualname: str  # the function around the loop (or the framework call)
    how: str  # "loop" | "lightning" | "ignite" | "accelerate"
    moves_batches: bool  # the batches are sent to a device (by the code or the framework)
    evidence: str | None  # "cuda", "accel" or None: does the code around it use an accelerator?
    loop: int = -1  # the loop of `qualname` that iterates the batches ("loop" consumers)


class LoaderValues:
    """A loader's arguments, class and batches (a mixin of `Evaluator`)."""

    def loader_elements(self, site) -> frozenset:
        """Batches of a DataLoader: tensors from its dataset, on the host unless the
        dataset already holds device tensors; `exact` only with the default collate."""
        bound = self.loader_arguments(site)
        if bound is None:
            return frozenset([Tensor("host", site, exact=False)])
        exact = not bound.opaque and bound.get("collate_fn") is None and self.loader_class(site) not in api.OBJECT_BATCH_LOADERS
        device = "host"
        dataset = bound.get("dataset")
        if dataset is not None and any(isinstance(v, Dataset) and v.device == "accel" for v in dataset.values):
            device = "accel"
        return frozenset([Tensor(device, site, exact)])

    def loader_arguments(self, site) -> BoundArgs | None:
        module, line, col = site
        return self.memo("loader-args", site, lambda: self._loader_arguments(module, line, col), None)

    def _loader_arguments(self, module, line, col):
        found = self.project.call_at(module, line, col)
        if found is None:
            return None
        qualname, call = found
        frame = (module, qualname)
        return self.bind(call, frame, self.loader_params(call, frame))

    def loader_params(self, call: Call, frame: tuple) -> tuple:
        """The positional parameters of the loader class a call builds."""
        for target, _ in self.targets(call, frame):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                return api.LOADER_CLASSES[target.qualname]
            if isinstance(target, Class):
                init = self.find_method(target.module, target.qualname, "__init__")
                summary = self.function(init.module, init.qualname) if init is not None else None
                if summary is not None and init.module == target.module and self.class_summary(target.module, target.qualname).methods.get("__init__"):
                    return tuple(p for p, kind in zip(summary.params[1:], summary.param_kinds[1:]) if kind == "pos")
        return api.DATALOADER_PARAMS

    def loader_class(self, site) -> str | None:
        """The canonical name of the loader class built at `site` (a project subclass of
        torch's DataLoader reads as torch's)."""
        found = self.project.call_at(*site)
        if found is None:
            return None
        qualname, call = found
        found_classes = set()
        for target, _ in self.targets(call, (site[0], qualname)):
            if isinstance(target, External) and target.qualname in api.LOADER_CLASSES:
                found_classes.add(target.qualname)
            elif isinstance(target, Class) and self.is_loader_class(target.module, target.qualname):
                found_classes.add(api.DATALOADER)
            else:
                return None  # not (only) a loader: a user class named DataLoader, say
        return found_classes.pop() if len(found_classes) == 1 else None

    def is_loader_class(self, module: str, qualname: str) -> bool:
        return any(b in api.LOADER_CLASSES for b in self.externals_of(module, qualname))


class LoaderConsumers:
    """The loops and frameworks that use a loader's batches (a mixin of `Training`)."""

    def loop_sources(self, module: str, qualname: str, index: int) -> frozenset:
        """DataLoader sites whose batches this loop iterates (or takes with `next()`)."""
        return self.ev.memo("loop-sources", (module, qualname, index), lambda: self._loop_sources(module, qualname, index))

    def _loop_sources(self, module: str, qualname: str, index: int) -> frozenset:
        function = self.ev.function(module, qualname)
        loop = function.loops[index]
        frame = (module, qualname)
        sources = set()
        if loop.iter is not None:
            sources |= batch_sources(self.ev.eval(["e", loop.iter], frame), parts=False)
        for call in function.calls:
            if call.loops and call.loops[-1] == index and call.func == ["n", "next"] and call.args:
                sources |= batch_sources(self.ev.elements(self.ev.eval(call.args[0], frame)), parts=False)
        return frozenset(sources)

    def moved_batch_sources(self) -> dict:
        """Loader site -> device kind its batches are moved to."""
        moved: dict = {}
        for _, _, _, receivers, kind in self.moves():
            for source in batch_sources(receivers):
                moved[source] = kind if moved.get(source) in (None, kind) else "any"
        return moved

    def consumers(self, site) -> list:
        """Where the batches of the DataLoader built at `site` are used."""
        if self._consumers is None:
            self._consumers = self._compute_consumers()
        return self._consumers.get(site, [])

    def _compute_consumers(self) -> dict:
        found: dict = {}
        ev = self.ev
        moved = self.moved_batch_sources()
        project = ev.project
        for module, summary in project.summaries():
            for qualname, function in summary.functions.items():
                if not function.loops or function.yields is not None:
                    continue  # a generator's loop hands the batches on: its caller's loop uses them
                roles = self.loop_roles(module, qualname)
                for index, loop in enumerate(function.loops):
                    sources = self.loop_sources(module, qualname, index)
                    if not sources:
                        continue
                    role = "train" if roles.get(index) == STEP or self._trains_inside(module, qualname, index) else "eval"
                    if role == "eval" and loop.breaks:
                        continue  # an evaluation that stops early (a few samples): not a loader's workload
                    evidence = self.evidence(module, qualname)
                    for source in sources:
                        found.setdefault(source, []).append(
                            Consumer(role, module, qualname, "loop", source in moved, strongest_evidence(evidence, moved.get(source)), index)
                        )
        for consumer_site, role, loaders, how, evidence in self._framework_consumers():
            for loader in loaders:
                found.setdefault(loader, []).append(Consumer(role, consumer_site[0], consumer_site[1], how, True, evidence))
        return found

    def _framework_consumers(self) -> list:
        """Loaders handed to a framework's training or evaluation loop."""
        ev = self.ev
        found = []
        for module, qualname, index in ev.calls_named("fit", "validate", "test", "run"):
            function = ev.function(module, qualname)
            call = function.calls[index]
            if call.func[0] != "a":
                continue
            frame = (module, qualname)
            frameworks = [r for r in ev.eval(call.func[1], frame) if isinstance(r, Framework)]
            for framework in frameworks:
                if framework.kind == "lightning-trainer":
                    evidence = self._lightning_evidence(framework)
                    bound = ev.bind(call, frame, ("model", "train_dataloaders", "val_dataloaders", "datamodule", "ckpt_path"))
                    train_role = "train" if call.func[2] == "fit" else "eval"
                    for key, role in (("train_dataloaders", train_role), ("val_dataloaders", "eval"), ("dataloaders", "eval")):
                        arg = bound.get(key) or (bound.get("train_dataloader") if key == "train_dataloaders" else None)
                        if arg is not None:
                            found.append(((module, qualname), role, _loaders_in(arg.values, ev), "lightning", evidence))
                    for key in ("datamodule", "model"):
                        arg = bound.get(key)
                        if arg is None:
                            continue
                        for value in arg.values:
                            if isinstance(value, Instance):
                                for method, role in (("train_dataloader", train_role), ("val_dataloader", "eval")):
                                    target = ev.find_method(value.module, value.qualname, method)
                                    if target is not None:
                                        found.append(((module, qualname), role, _loaders_in(ev.returns(target.module, target.qualname), ev), "lightning", evidence))
                elif framework.kind == "ignite-engine" and call.func[2] == "run" and call.args:
                    loaders = _loaders_in(ev.eval(call.args[0], frame), ev)
                    role, evidence = self._ignite_role(framework)
                    found.append(((module, qualname), role, loaders, "ignite", evidence))
        # `def train_dataloader(self)` of a LightningModule or DataModule, wherever it is used.
        for module, summary in ev.project.summaries():
            for class_qualname, info in summary.classes.items():
                externals = ev.externals_of(module, class_qualname)
                if not ({api.LIGHTNING_MODULE, api.LIGHTNING_DATAMODULE} & externals):
                    continue
                for method, role in (("train_dataloader", "train"), ("val_dataloader", "eval"), ("test_dataloader", "eval")):
                    # A method, or a method assigned to the attribute (`self.train_dataloader = self._train`).
                    targets = [
                        v.function if isinstance(v, Bound) else v
                        for v in ev.instance_attribute(Instance(module, class_qualname, None), method)
                        if isinstance(v, Function) or (isinstance(v, Bound) and v.function is not None)
                    ]
                    for target in targets:
                        loaders = _loaders_in(ev.returns(target.module, target.qualname), ev)
                        found.append(((target.module, target.qualname), role, loaders, "lightning", "cuda"))
        return found

    def _ignite_role(self, engine: Framework) -> tuple:
        found = self.ev.project.call_at(*engine.site)
        if found is None:
            return "eval", None
        qualname, call = found
        frame = (engine.site[0], qualname)
        names = {t.qualname for t, _ in self.ev.targets(call, frame) if isinstance(t, External)}
        device = None
        for keyword, value in call.keywords:
            if keyword == "device":
                kind = self.ev.device_kind(self.ev.eval(value, frame))
                device = None if kind == "cpu" else ("cuda" if kind == "cuda" else "accel")
        if names & set(api.IGNITE_TRAINER_FACTORIES):
            return "train", device or self.evidence(engine.site[0], qualname)
        if any(n.endswith("create_supervised_evaluator") for n in names):
            return "eval", device or self.evidence(engine.site[0], qualname)
        for site, function in self.ev.ignite_engines():
            if site == engine.site:
                trains = self.trains_once(function.module, function.qualname)
                return ("train" if trains else "eval"), self.evidence(function.module, function.qualname) or self.evidence(engine.site[0], qualname)
        return "eval", None


def batch_sources(values, parts: bool = True) -> frozenset:
    """Loader sites of the batch tensors among these values (inside tuples too); with
    `parts=False`, not of the rows or fields reached by iterating a batch."""
    found = set()
    for seen, value in enumerate(_contents(values)):
        if seen >= 200:
            break
        if isinstance(value, Tensor) and value.source is not None and (parts or not value.part):
            found.add(value.source)
    return frozenset(found)


def _loaders_in(values, ev: Evaluator) -> list:
    found = []
    for value in _contents(values):
        if len(found) >= 50:
            break
        if isinstance(value, Loader):
            found.append(value.site)
    return found


def _contents(values):
    """The values and, depth first, what their tuples and sequences hold."""
    stack = list(values)
    while stack:
        value = stack.pop()
        yield value
        if isinstance(value, Tup):
            for item in value.items:
                stack.extend(item)
        elif isinstance(value, Seq):
            stack.extend(value.elements)


# -- the dataset a loader reads ----------------------------------------------------------


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
