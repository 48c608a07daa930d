"""What a fix is: typed text edits and how far they can be trusted."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable


class Applicability(StrEnum):
    """How far a fix can be trusted (ruff's terms). A str, so JSON and SARIF show its value."""

    SAFE = "safe"  # the fixed program computes the same: `fix --apply` writes it
    UNSAFE = "unsafe"  # may change results: written only with `--unsafe-fixes`
    DISPLAY_ONLY = "display-only"  # shown as advice, never written


SAFE, UNSAFE, DISPLAY_ONLY = Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY


@dataclass(frozen=True)
class Edit:
    """Replace the text from `start` to `end` with `content`. Positions are (line 1-based,
    column 0-based in characters); an insertion has start == end."""

    start: tuple
    end: tuple
    content: str


@dataclass
class Fix:
    """What a fix does and how far it can be trusted. Edits that need libcst are built on
    demand: `build` returns the finished Fix (the same applicability, or display-only
    when the code turns out not to allow the edit)."""

    applicability: str
    message: str
    edits: list = field(default_factory=list)
    build: Callable[[], "Fix"] | None = None
