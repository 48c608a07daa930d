"""The rule pages (`rules/TLnnn-name.md`): where they live and how they are split up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from torchlint.rules.base import Rule

_PACKAGED = Path(__file__).parent / "_rule_pages"  # inside an installed wheel
_SOURCE_TREE = Path(__file__).parent.parent / "rules"  # in a checkout or editable install


def pages_directory() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


def page_path(rule: type[Rule]) -> Path:
    return pages_directory() / f"{rule.code}-{rule.name}.md"


def rule_url(rule: type[Rule], docs_url: str | None = None) -> str:
    """Where the rule's page is: the `docs-url` setting (`{code}` and `{name}` filled in),
    else the page shipped with the package, as a file URI (a page that exists)."""
    if docs_url:
        return docs_url.format(code=rule.code, name=rule.name)
    return page_path(rule).absolute().as_uri()


@dataclass
class Page:
    title: str
    sections: dict[str, str]  # heading -> body text
    text: str = ""

    @property
    def target_torch(self) -> str | None:
        """The torch release the page's examples target, for rules whose advice depends on
        it: a line "The examples target torch 1.13 (`target-torch = "1.13"`)."."""
        match = re.search(r'`target-torch = "([^"]+)"`', self.text)
        return match.group(1) if match else None

    def code_block(self, heading: str) -> str | None:
        body = self.sections.get(heading)
        if body is None:
            return None
        match = re.search(r"```python\n(.*?)```", body, re.DOTALL)
        return match.group(1) if match else None


def read_page(rule: type[Rule]) -> Page:
    text = page_path(rule).read_text(encoding="utf-8")
    return parse_page(text)


def parse_page(text: str) -> Page:
    title = ""
    sections: dict[str, str] = {}
    current = None
    buffer: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("# ") and not title:
            title = line[2:].strip()
            continue
        if not in_code and line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(buffer).strip() + "\n"
            current, buffer = line[3:].strip(), []
            continue
        buffer.append(line)
    if current is not None:
        sections[current] = "\n".join(buffer).strip() + "\n"
    return Page(title, sections, text)
