"""A summary as JSON, for the cache. Each record is a list of its fields in order (Exprs
stay the lists they are): compact, and decoding is a constructor call per record rather
than a walk over every value. `SUMMARY_VERSION` names the format: change it with the
format, so that older cache entries are not read."""

from __future__ import annotations

from torchlint.project.summary.model import Binding, Call, Class, Function, HostUse, Loop, ModuleSummary, Span, With

SUMMARY_VERSION = 11


def _span(s: Span) -> list:
    return [s.line, s.col, s.end_line, s.end_col]


def _binding(b: Binding) -> list:
    return [b.value, b.kind, b.line, b.col, b.end_line, b.conditional, b.order, b.uses]


def _function(f: Function) -> list:
    return [
        f.name, f.qualname, _span(f.span), f.kind, f.params, f.param_kinds, f.defaults, f.parent, f.owner,
        f.defined_in, f.decorators, {k: [_binding(b) for b in v] for k, v in f.bindings.items()}, f.item_stores, f.globals,
        [[c.func, c.args, c.keywords, _span(c.span), c.loops, c.gate, c.statement, c.with_block, c.decorator,
          c.conditional, c.statement_line, c.branch, c.guard] for c in f.calls],
        [[lp.kind, lp.iter, _span(lp.span), lp.parent, lp.gate, lp.breaks, lp.branch] for lp in f.loops],
        [[w.contexts, _span(w.span), w.parent] for w in f.withs],
        f.returns, f.yields, f.cuda_strings, f.mps_strings,
        [[u.kind, u.expr, _span(u.span), u.loops, u.gate, u.conditional, u.statement_line, u.guard] for u in f.host_uses],
        f.attr_stores,
        f.setting_stores,
    ]


def _class(c: Class) -> list:
    return [
        c.name, c.qualname, _span(c.span), c.parent, c.body, c.bases, c.keywords, c.methods,
        {k: [[q, _binding(b)] for q, b in v] for k, v in c.self_attrs.items()},
    ]


def to_json(summary: ModuleSummary) -> list:
    return [
        SUMMARY_VERSION,
        [_function(f) for f in summary.functions.values()],
        [_class(c) for c in summary.classes.values()],
        summary.has_main_guard,
        [[line, text] for line, text in summary.comments.items()],
        summary.syntax_error,
    ]


def _load_function(d: list) -> Function:
    (name, qualname, span, kind, params, param_kinds, defaults, parent, owner, defined_in, decorators, bindings,
     item_stores, globals_, calls, loops, withs, returns, yields, cuda, mps, host_uses, attr_stores, settings) = d
    return Function(
        name, qualname, Span(*span), kind, params, param_kinds, defaults, parent, owner, defined_in, decorators,
        {k: [Binding(*b) for b in v] for k, v in bindings.items()}, item_stores, globals_,
        [Call(c[0], c[1], c[2], Span(*c[3]), c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12]) for c in calls],
        [Loop(lp[0], lp[1], Span(*lp[2]), lp[3], lp[4], lp[5], lp[6]) for lp in loops],
        [With(w[0], Span(*w[1]), w[2]) for w in withs],
        returns, yields, cuda, mps,
        [HostUse(u[0], u[1], Span(*u[2]), u[3], u[4], u[5], u[6], u[7]) for u in host_uses], attr_stores, settings,
    )


def _load_class(d: list) -> Class:
    name, qualname, span, parent, body, bases, keywords, methods, self_attrs = d
    return Class(name, qualname, Span(*span), parent, body, bases, keywords, methods,
                 {k: [[q, Binding(*b)] for q, b in v] for k, v in self_attrs.items()})


def from_json(data: list) -> ModuleSummary:
    """The summary `to_json` wrote; ValueError for anything else (a foreign or old entry)."""
    try:
        version, functions, classes, main_guard, comments, syntax_error = data
        if version != SUMMARY_VERSION:
            raise ValueError(f"summary version {version}")
        loaded_functions = [_load_function(f) for f in functions]
        loaded_classes = [_load_class(c) for c in classes]
        return ModuleSummary(
            {f.qualname: f for f in loaded_functions},
            {c.qualname: c for c in loaded_classes},
            bool(main_guard),
            {int(line): text for line, text in comments},
            syntax_error,
        )
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"not a summary: {error}") from None
