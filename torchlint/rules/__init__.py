"""The rule registry: every `tlNNN_*.py` module in this package defines one rule.

Rules are discovered, not listed by hand, so adding a rule is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from torchlint.rules.base import Rule


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.name.startswith("tl"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and value.__module__ == module.__name__:
                found.append(value)
    found.sort(key=lambda rule: rule.code)
    codes = [rule.code for rule in found]
    if len(codes) != len(set(codes)):
        raise RuntimeError(f"duplicate rule codes: {codes}")
    return tuple(found)


def rule_by_code_or_name(text: str) -> type[Rule] | None:
    for rule in all_rules():
        if text.upper() == rule.code or text == rule.name:
            return rule
    return None
