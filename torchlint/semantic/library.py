"""Calls into libraries: what a call of torch, torchvision, PyG, Hugging Face, argparse,
the training frameworks or a builtin returns, and what the methods of the values we
model (tensors, modules, parsers, frameworks, datasets, dicts) return.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic import api
from torchlint.semantic.values import (
    UNKNOWN_SET,
    Dataset,
    Device,
    Dict,
    Framework,
    Instance,
    Loader,
    Opaque,
    Optimizer,
    ParsedArgs,
    Parser,
    Seq,
    Tensor,
    TorchModule,
    Tup,
    merge_entries,
    only_const,
)


class Library:
    """Library calls and the methods of modelled values (a mixin of `Evaluator`)."""

    def method(self, receiver, name: str, call: Call, frame: tuple) -> frozenset:
        """A method of a value we model (torch objects, parsers, frameworks)."""
        if isinstance(receiver, Tensor):
            if name == "to":
                return frozenset([Tensor(self.move_target(call, frame, receiver.device), receiver.source, receiver.exact, receiver.part)])
            if name == "cuda":
                return frozenset([Tensor("accel", receiver.source, receiver.exact, receiver.part)])
            if name == "cpu":
                return frozenset([Tensor("host", receiver.source, receiver.exact, receiver.part)])
            if name == "type" and self.tensor_type_device(call, frame) is not None:
                return frozenset([Tensor("accel", receiver.source, receiver.exact, receiver.part)])
            if name == "type" and not call.args and not call.keywords:
                return frozenset([Opaque("builtins.str")])  # `x.type()`: the type's name
            if name in api.TENSOR_METHODS:
                return frozenset([receiver])
            # A batch of a loader may be a dict of tensors (the default collate keeps dicts).
            if name == "items" and receiver.source is not None:
                return frozenset([Seq(frozenset([Tup((UNKNOWN_SET, frozenset([receiver])))]))])
            if name == "values" and receiver.source is not None:
                return frozenset([Seq(frozenset([receiver]))])
            return UNKNOWN_SET
        if isinstance(receiver, (TorchModule, Instance)):
            if name in api.MODULE_SELF_METHODS:
                return frozenset([receiver])
            if isinstance(receiver, TorchModule) and name == "forward":
                return frozenset([Tensor("any")])
            return UNKNOWN_SET
        if isinstance(receiver, Parser):
            if name in ("add_argument_group", "add_mutually_exclusive_group"):
                return frozenset([receiver])
            if name == "parse_args":
                return frozenset([ParsedArgs(receiver.site)])
            if name == "parse_known_args":
                return frozenset([Tup((frozenset([ParsedArgs(receiver.site)]), UNKNOWN_SET))])
            return UNKNOWN_SET
        if isinstance(receiver, Framework):
            if receiver.kind == "accelerator":
                if name == "prepare":
                    args = [self.eval(a[1] if a[0] == "*" else a, frame) for a in call.args]
                    if len(args) == 1:
                        return args[0]
                    return frozenset([Tup(tuple(args))])
                if name in ("prepare_model", "prepare_data_loader", "prepare_optimizer", "unwrap_model") and call.args:
                    return self.eval(call.args[0], frame)
            return UNKNOWN_SET
        if isinstance(receiver, Dataset):
            if name in ("to", "cuda"):
                kind = "cuda" if name == "cuda" else self.move_device(call, frame)
                if kind is not None and kind not in ("cpu", "meta"):
                    return frozenset([Dataset(receiver.kind, "accel", receiver.site)])
            return frozenset([receiver])  # `.shuffle()`, `.index_select(...)`, `.copy()`: the same data
        if isinstance(receiver, Dict):
            if name == "get" and call.args:
                key = only_const(self.eval(call.args[0], frame))
                found = receiver.get(key) if isinstance(key, str) else None
                if found is not None:
                    return found
            if name == "copy":
                return frozenset([receiver])
            return UNKNOWN_SET
        return UNKNOWN_SET

    def external_call(self, qualname: str, call: Call, frame: tuple) -> frozenset:
        q = api.canonical(qualname)
        site = self.site(frame[0], call)
        first = call.args[0] if call.args and call.args[0][0] != "*" else None
        if q in api.LOADER_CLASSES:
            return frozenset([Loader(site)])
        if q in api.PASS_THROUGH:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        if q.startswith("builtins."):
            return self.builtin_call(q[len("builtins."):], call, frame)
        head, _, last = q.rpartition(".")
        if head == "torch" and (last in api.TENSOR_FACTORIES or last == "from_numpy"):
            return frozenset([Tensor(self.created_on(call, frame))])
        if head == "torch" and last in api.TENSOR_FUNCTIONS:
            return frozenset([Tensor(self.created_on(call, frame, default=self.operands_device(call, frame)))])
        if q == "torch.device":
            if first is None:
                return frozenset([Device("any")])
            return frozenset([Device(self.device_kind(self.eval(first, frame)) or "any")])
        if q == "torch.utils.data.TensorDataset":
            devices = {v.device for a in call.args for v in self.eval(a[1] if a[0] == "*" else a, frame) if isinstance(v, Tensor)}
            return frozenset([Dataset("rows", "accel" if "accel" in devices else "host", site)])
        if q in api.DATASET_WRAPPERS:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        if q == "torch.utils.data.random_split":
            return frozenset([Seq(self.eval(first, frame))]) if first is not None else UNKNOWN_SET
        if q == "torch.utils.data.ConcatDataset":
            return self.elements(self.eval(first, frame)) if first is not None else UNKNOWN_SET
        if q.startswith("torchvision.datasets.") and last[:1].isupper():
            return frozenset([Dataset("io", site=site)])
        if q.startswith("torch_geometric.datasets.") and last[:1].isupper():
            # In memory once processed; a `transform` runs per sample in the loader.
            return frozenset([Dataset("io" if any(k == "transform" for k, _ in call.keywords) else "rows", site=site)])
        if q.startswith(api.HF_DATASET_BUILDERS):
            return frozenset([Dataset("rows", site=site)])
        if q in api.MODULE_WRAPPERS:
            return self.eval(first, frame) if first is not None else UNKNOWN_SET
        placed = any(keyword in api.PLACING_KEYWORDS for keyword, _ in call.keywords)
        if q == "torch.nn.ModuleList" and first is not None:
            return frozenset([Seq(self.elements(self.eval(first, frame)))])  # iterated and indexed as a list
        if api.is_torch_module_class(q) or api.is_module_builder(q):
            return frozenset([TorchModule(q, site, placed)])
        if q.startswith("torch.optim.") and last[:1].isupper() and "lr_scheduler" not in q:
            return frozenset([Optimizer(site)])
        if q == "argparse.ArgumentParser":
            return frozenset([Parser(site)])
        if q == api.LIGHTNING_TRAINER:
            return frozenset([Framework("lightning-trainer", site)])
        if api.is_hf_trainer(q):
            return frozenset([Framework("hf-trainer", site)])
        if q == api.ACCELERATOR:
            return frozenset([Framework("accelerator", site)])
        if q in api.IGNITE_TRAINER_FACTORIES or q in api.IGNITE_ENGINE:
            return frozenset([Framework("ignite-engine", site)])
        if q.startswith("torch.nn.functional."):
            return frozenset([Tensor("any")])
        if q.split(".")[0] in api.LIBRARY_PACKAGES:
            return frozenset([Opaque(q)])
        return UNKNOWN_SET  # a module we cannot see (not installed here, or generated): anything

    def builtin_call(self, name: str, call: Call, frame: tuple) -> frozenset:
        args = [self.eval(a[1] if a[0] == "*" else a, frame) for a in call.args]
        if name == "enumerate" and args:
            return frozenset([Seq(frozenset([Tup((UNKNOWN_SET, self.elements(args[0])))]))])
        if name == "zip" and args and not any(a[0] == "*" for a in call.args):
            return frozenset([Seq(frozenset([Tup(tuple(self.elements(a) for a in args))]))])
        if name == "next" and args:
            return self.elements(args[0])
        if name in ("list", "tuple", "sorted", "set") and args:
            return frozenset([Seq(self.elements(args[0]))])
        if name == "range":
            return frozenset([Seq(UNKNOWN_SET)])
        if name == "super":
            owner = self._owner_class(frame, call, args)
            return frozenset([owner]) if owner is not None else UNKNOWN_SET
        if name == "dict":
            entries = []
            complete = True
            for keyword, value in call.keywords:
                if keyword is None:
                    splat = self.eval(value, frame)
                    inner = next(iter(splat)) if len(splat) == 1 else None
                    if isinstance(inner, Dict):
                        entries.extend(inner.entries)
                        complete = complete and inner.complete
                    else:
                        complete = False
                else:
                    entries.append((keyword, self.eval(value, frame)))
            if args:
                complete = False
            return frozenset([Dict(merge_entries(entries), complete)])
        return UNKNOWN_SET
