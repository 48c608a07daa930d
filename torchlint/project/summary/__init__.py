"""One module's summary: plain data computed from the stdlib parser, cached as JSON.

A summary records what the semantic layer needs to follow values across modules and to
say how often a line runs, and nothing else: for every function (module-level code is
the function "<module>", a class body "<Class>.<body>") its parameters, the bindings of
each local name with the expression they bind, every call with its arguments and the
loops, guards and `with` blocks around it, the loops with what they iterate, and the
returned expressions. A summary depends only on the file's text: the cache keys it by
content hash.

- model.py        the records (Function, Call, Loop, Binding, ...) and the Expr format
- codec.py        to_json / from_json for the cache, and SUMMARY_VERSION
- builder.py      summarize(source): the walk over the tree, scopes, bindings, definitions
- statements.py   the walk's statement handlers
- expressions.py  the walk's expression handlers (source -> Expr)

The guard kinds stored on calls and loops ("every-k", "flag", ...) are decided by
semantic/guards.py.
"""

from torchlint.project.summary.builder import summarize
from torchlint.project.summary.codec import SUMMARY_VERSION, from_json, to_json
from torchlint.project.summary.model import (
    UNKNOWN_EXPR,
    Binding,
    Call,
    Class,
    Expr,
    Function,
    HostUse,
    Loop,
    ModuleSummary,
    Span,
    With,
    spelled_name,
)

__all__ = [
    "SUMMARY_VERSION", "UNKNOWN_EXPR", "Binding", "Call", "Class", "Expr", "Function", "HostUse", "Loop",
    "ModuleSummary", "Span", "With", "from_json", "spelled_name", "summarize", "to_json",
]
