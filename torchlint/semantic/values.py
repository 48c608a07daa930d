"""Abstract values: what an expression can evaluate to, without running anything.

An expression evaluates to a small frozenset of these. `UNKNOWN` in a set means "possibly
something we cannot tell"; rules that need a fact to hold ("the workers are 0", "this is
a tensor") require every value in the set to agree and stay silent otherwise.

Objects built at a call site carry that site, (module path, line, column), so that two
models built in two functions are two things, and facts (moved to the device, trained,
iterated by a training loop) attach to the right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Site = tuple  # (module relpath, line, col)


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
UNKNOWN_SET = frozenset([UNKNOWN])
EMPTY = frozenset()
MAX_VALUES = 24


def union(*sets) -> frozenset:
    result = frozenset().union(*sets)
    if len(result) > MAX_VALUES:
        return UNKNOWN_SET
    return result


@dataclass(frozen=True, slots=True)
class Const:
    value: object
    # Where the value was written: (module relpath, line, what) for messages; not part of identity.
    origin: tuple | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class StrPrefix:
    """An f-string, known by its leading text (`f"cuda:{rank}"`)."""

    prefix: str


@dataclass(frozen=True, slots=True)
class External:
    """Something outside the project, known by its canonical dotted name
    ("torch.utils.data.DataLoader", "torch", "builtins.enumerate")."""

    qualname: str


@dataclass(frozen=True, slots=True)
class Opaque:
    """What a library call returns when its API is not modelled: a library object we
    know nothing more of (a tokenizer, a logger, a numpy array). Unlike UNKNOWN, it is
    known not to be a value of the project's own code."""

    qualname: str


@dataclass(frozen=True, slots=True)
class ProjectModule:
    module: str  # relpath


@dataclass(frozen=True, slots=True)
class ProjectDir:
    """A namespace package: a directory without `__init__.py`."""

    directory: str


@dataclass(frozen=True, slots=True)
class Function:
    module: str
    qualname: str


@dataclass(frozen=True, slots=True)
class Class:
    module: str
    qualname: str


@dataclass(frozen=True, slots=True)
class Instance:
    """An object of a project class; `site` is where it was built (None for `self`)."""

    module: str
    qualname: str
    site: Site | None = None


@dataclass(frozen=True, slots=True)
class TorchModule:
    """An nn.Module from a library: `nn.Linear(...)`, `resnet18()`, `AutoModel.from_pretrained(...)`."""

    qualname: str
    site: Site
    # Built with its parameters on a device (`device=`, `device_map=`).
    placed: bool = False


@dataclass(frozen=True, slots=True)
class Tensor:
    """device: "host", "accel" or "any". `source` is the DataLoader site a batch tensor
    comes from; `exact` says it is a tensor (default collate), not any custom batch;
    `part`: a row or field reached by iterating a batch (still the batch's data, so its
    moves move the batch, but a loop over it is no loop over the loader)."""

    device: str = "any"
    source: Site | None = None
    exact: bool = True
    part: bool = False


@dataclass(frozen=True, slots=True)
class Loader:
    site: Site


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset from a library. kind: "rows" (in memory), "io" (reads or decodes per
    sample), "iterable", "unknown"; device "accel" when its tensors already are there."""

    kind: str
    device: str = "host"
    site: Site | None = None  # where it was built (moves of the object attach there)


@dataclass(frozen=True, slots=True)
class Device:
    kind: str  # "cuda" | "mps" | "xpu" | "cpu" | "meta" | "any"


@dataclass(frozen=True, slots=True)
class Optimizer:
    site: Site


@dataclass(frozen=True, slots=True)
class Parser:
    site: Site


@dataclass(frozen=True, slots=True)
class ParsedArgs:
    """What `parser.parse_args()` returns; parser None: an `args` parameter of unknown origin."""

    parser: Site | None


@dataclass(frozen=True, slots=True)
class Framework:
    """A training framework object: "lightning-trainer", "hf-trainer", "accelerator",
    "ignite-engine", "datamodule"."""

    kind: str
    site: Site


@dataclass(frozen=True, slots=True)
class Seq:
    """A list or iterable whose elements are `elements`."""

    elements: frozenset


@dataclass(frozen=True, slots=True)
class Tup:
    """A tuple of known length: items are value sets."""

    items: tuple


@dataclass(frozen=True, slots=True)
class Dict:
    """A dict built in plain sight: keys are constants; `complete` is False when more may be in it."""

    entries: tuple  # ((key, value set), ...)
    complete: bool = True

    def get(self, key):
        for k, v in self.entries:
            if k == key:
                return v
        return None


def merge_entries(entries: list) -> tuple:
    """Later keys win, as in a dict display."""
    merged: dict = {}
    for key, value in entries:
        merged[key] = value
    return tuple(merged.items())


@dataclass(frozen=True, slots=True)
class Super:
    """`super()` in a method of the project class `qualname`."""

    module: str
    qualname: str


@dataclass(frozen=True, slots=True)
class Bound:
    """A method looked up on a value: `receiver.name`."""

    receiver: object
    name: str
    function: Function | None = None  # when it is a project method


def only_const(values: frozenset):
    """The one constant all values agree on, or UNKNOWN."""
    if not values:
        return UNKNOWN
    found = UNKNOWN
    for value in values:
        if not isinstance(value, Const):
            return UNKNOWN
        if found is UNKNOWN:
            found = value
        elif type(found.value) is not type(value.value) or found.value != value.value:
            return UNKNOWN
    return found.value if isinstance(found, Const) else UNKNOWN


def first_origin(values: frozenset):
    for value in values:
        if isinstance(value, Const) and value.origin is not None:
            return value.origin
    return None
