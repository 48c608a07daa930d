"""What a rule is: a code, a name, a check over the file's Facts, and what it reports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterator

import libcst as cst

if TYPE_CHECKING:
    from torchlint.analysis.facts import Facts
    from torchlint.settings import RuleOptions

# Text that accelerator evidence cannot be written without (see Facts.accelerator_evidence).
ACCELERATOR_WORDS = ("cuda", "mps", "xpu", "device(", "device_map", "Accelerator", "accelerator", "Trainer")

DOCS_URL = "https://github.com/torchlint/torchlint/blob/main/rules/{code}-{name}.md"


@dataclass
class NodeEdit:
    """One change, anchored to a node; the engine turns it into a text edit.

    where: "replace" the node's code; "line-before" / "line-after" insert `content` as a
    new line (indented like the node's first line) before the node's first line or after
    its last line.
    """

    node: cst.CSTNode
    content: str = ""
    where: str = "replace"
    # A node to put in place of `node`, rendered in context (keeps the block's indentation).
    replacement: cst.CSTNode | None = None


SAFE, UNSAFE, DISPLAY_ONLY = "safe", "unsafe", "display-only"


@dataclass
class Fix:
    """An edit a rule proposes, and how far it can be trusted:
    safe (same results, cannot start failing), unsafe (opt-in), display-only (never applied)."""

    applicability: str
    message: str
    edits: list[NodeEdit] = field(default_factory=list)


@dataclass
class Report:
    node: cst.CSTNode
    message: str
    fix: Fix | None = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    # "none", "sometimes" or "always": shown by `torchlint rules`.
    fix_availability: ClassVar[str] = "none"
    # Said in `fix`'s summary for findings it cannot fix, e.g. "a larger batch changes the optimisation".
    no_fix_reason: ClassVar[str] = "no automatic fix"
    enabled_by_default: ClassVar[bool] = True
    # The file is only parsed for this rule if its text contains one of `triggers` and,
    # when `requires` is set, one of `requires` too. Both are necessary conditions.
    # `pattern`, when set, is a regex the text must match as well.
    triggers: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    pattern: ClassVar[re.Pattern[str] | None] = None

    @classmethod
    def may_match(cls, source: str) -> bool:
        return (
            any(t in source for t in cls.triggers)
            and (not cls.requires or any(r in source for r in cls.requires))
            and (cls.pattern is None or cls.pattern.search(source) is not None)
        )

    def __init__(self, options: "RuleOptions") -> None:
        self.options = options

    def check(self, facts: "Facts") -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def url(cls) -> str:
        return DOCS_URL.format(code=cls.code, name=cls.name)
