"""What a rule is: a code, a name, and a check over one module of the semantic model.

A rule says WHAT it looks for; the semantic layer answers where values come from, how
often a line runs and where tensors live. A finding may carry a fix, built lazily (only
for findings that are reported) from the module's source view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

from torchlint.fixes import DISPLAY_ONLY, SAFE, UNSAFE, Edit, Fix  # noqa: F401  (re-exported for rules)
from torchlint.project.summary import Span

if TYPE_CHECKING:
    from torchlint.semantic.context import ModuleContext
    from torchlint.settings import RuleOptions



@dataclass
class Finding:
    span: Span
    message: str
    fix: Fix | Callable[[], Fix | None] | None = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    # "none", "sometimes" or "always": shown by `torchlint rules`.
    fix_availability: ClassVar[str] = "none"
    # Said in `fix`'s summary for findings it cannot fix, e.g. "a larger batch changes the optimisation".
    no_fix_reason: ClassVar[str] = "no automatic fix"
    enabled_by_default: ClassVar[bool] = True

    def __init__(self, options: "RuleOptions") -> None:
        self.options = options

    def check(self, module: "ModuleContext") -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def url(cls, docs_url: str | None = None) -> str:
        """Where the rule's page is: the `docs-url` setting (`{code}` and `{name}` filled in),
        else the page shipped with the package, as a file URI (a page that exists)."""
        if docs_url:
            return docs_url.format(code=cls.code, name=cls.name)
        from torchlint.docs import page_path

        return page_path(cls).absolute().as_uri()
