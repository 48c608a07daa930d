"""What a DataLoader's dataset is known to be (rows in memory, an unsharded iterable,
code that makes accelerator tensors): the names rules import from here. The code lives
with the rest of the DataLoader knowledge in loaders.py."""

from torchlint.semantic.loaders import (
    CUSTOM_BATCH,
    IN_MEMORY,
    ITERABLE_UNSHARDED,
    MAKES_ACCELERATOR_TENSORS,
    class_traits,
    function_uses_accelerator,
    loader_traits,
    value_traits,
)

__all__ = [
    "CUSTOM_BATCH", "IN_MEMORY", "ITERABLE_UNSHARDED", "MAKES_ACCELERATOR_TENSORS",
    "class_traits", "function_uses_accelerator", "loader_traits", "value_traits",
]
