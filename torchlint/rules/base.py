"""What a rule is: a code, a name, the facts it declares, and a check over one module of
the semantic model.

A rule says WHAT it looks for; the semantic layer answers where values come from, how
often a line runs and where tensors live. A finding may carry a fix, built lazily (only
for findings that are reported) from the module's source view.

The facts a rule declares (`fixes`, `fix_scope`, `no_fix_reason`, `effect`, `default`) are
the only place they are written: `torchlint rules`, the README table, the page's `Fix:`
line and verify's sets are derived from them (tests/test_rule_facts.py holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, UNSAFE, Applicability, Edit, Fix  # noqa: F401  (re-exported for rules)
from torchlint.project.summary import Span

if TYPE_CHECKING:
    from torchlint.semantic.context import ModuleContext
    from torchlint.settings import RuleOptions


class Effect(StrEnum):
    """Where the effect of the rule's fix can be measured (by `torchlint verify`)."""

    ANY_DEVICE = "any device"  # a speedup shows on the CPU too (worker processes, a bigger batch)
    GPU_ONLY = "GPU only"  # needs an accelerator: on the CPU its speedup means nothing
    TORCH_1_ONLY = "torch 1 only"  # changes behaviour only on torch before 2.0 (a default changed there)


class Default(StrEnum):
    ON = "on"
    OPT_IN = "off"  # enabled with `--select`/`--extend-select`


@dataclass
class Finding:
    span: Span
    message: str
    fix: Fix | Callable[[], Fix | None] | None = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    # The applicabilities its fixes can have (display-only suggestions aside); () = no fix.
    fixes: ClassVar[tuple[Applicability, ...]] = ()
    # Where the fix applies, as the page says it: "for plain names", "(see Fix safety)".
    fix_scope: ClassVar[str] = ""
    # Said in `fix`'s summary for findings it cannot fix, e.g. "a larger batch changes the optimisation".
    no_fix_reason: ClassVar[str] = "no automatic fix"
    effect: ClassVar[Effect] = Effect.ANY_DEVICE
    default: ClassVar[Default] = Default.ON

    # Derived from the declarations above (never set by hand): see __init_subclass__.
    fix_availability: ClassVar[str] = "none"
    enabled_by_default: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if any(not isinstance(a, Applicability) or a is DISPLAY_ONLY for a in cls.fixes):
            raise TypeError(f"{cls.__name__}.fixes: SAFE and/or UNSAFE only")
        cls.fix_availability = " or ".join(a.value for a in cls.fixes) or "none"
        cls.enabled_by_default = cls.default is Default.ON

    def __init__(self, options: "RuleOptions") -> None:
        self.options = options

    def check(self, module: "ModuleContext") -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def fix_line(cls) -> str:
        """The `Fix:` line of the rule's page."""
        if not cls.fixes:
            return f"Fix: none: {cls.no_fix_reason.removeprefix('no automatic fix: ')}."
        scope = cls.fix_scope
        separator = " " if scope.startswith("(") else ", "
        return f"Fix: {cls.fix_availability}{separator + scope if scope else ''}."
