"""Command-line options: the defaults of every argparse option of the project (by parser
and destination), so that `args.batch_size` has the value the program runs with unless
told otherwise.
"""

from __future__ import annotations

from torchlint.project.summary import Call
from torchlint.semantic.values import UNKNOWN, UNKNOWN_SET, Const, ParsedArgs, Parser, only_const, union


class ArgparseOptions:
    """The values of parsed command-line options (a mixin of `Evaluator`)."""

    def parsed_arg(self, value: ParsedArgs, attr: str) -> frozenset:
        options = self.argparse_options()
        if value.parser is not None:
            found = options.get(value.parser, {}).get(attr)
            return found if found is not None else UNKNOWN_SET
        # An `args` parameter of unknown origin: every parser in the project must agree.
        found = [table[attr] for table in options.values() if attr in table]
        if not found:
            return UNKNOWN_SET
        agreed = only_const(union(*found))
        if agreed is UNKNOWN:
            return UNKNOWN_SET
        return found[0]

    def argparse_options(self) -> dict:
        """parser site -> dest -> default values, from every `add_argument` and
        `set_defaults` whose receiver is that parser (in any module)."""
        if self._argparse is None:
            self._argparse = {}
            declared: dict = {}
            for module, qualname, index in self.calls_named("add_argument", "set_defaults"):
                function = self.function(module, qualname)
                call = function.calls[index]
                frame = (module, qualname)
                parsers = [v for v in self.eval(call.func[1], frame) if isinstance(v, Parser)]
                for parser in parsers:
                    table = declared.setdefault(parser.site, {})
                    if call.func[2] == "set_defaults":
                        for keyword, value in call.keywords:
                            if keyword is not None:
                                table[keyword] = (self._const_with_origin(value, frame, module, call, f"`{keyword}` default"), True)
                        continue
                    dest, flag = self._argparse_dest(call, frame)
                    if dest is None:
                        continue
                    default = None
                    action = None
                    for keyword, value in call.keywords:
                        if keyword == "default":
                            default = value
                        elif keyword == "action":
                            action = only_const(self.eval(value, frame))
                    if default is not None:
                        values = self._const_with_origin(default, frame, module, call, f"`{flag}` default")
                    elif action == "store_true":
                        values = frozenset([Const(False, (module, call.span.line, f"`{flag}`"))])
                    elif action == "store_false":
                        values = frozenset([Const(True, (module, call.span.line, f"`{flag}`"))])
                    else:
                        values = frozenset([Const(None, (module, call.span.line, f"`{flag}`"))])
                    previous = table.get(dest)
                    if previous is not None and previous[1]:
                        continue  # set_defaults wins over argument defaults
                    if previous is not None and only_const(union(previous[0], values)) is UNKNOWN:
                        values = UNKNOWN_SET
                    table[dest] = (values, False)
            self._argparse = {site: {dest: v[0] for dest, v in table.items()} for site, table in declared.items()}
        return self._argparse

    def _const_with_origin(self, expr, frame, module, call, what) -> frozenset:
        values = self.eval(expr, frame)
        return frozenset(Const(v.value, (module, call.span.line, what)) if isinstance(v, Const) else v for v in values)

    def _argparse_dest(self, call: Call, frame: tuple):
        for keyword, value in call.keywords:
            if keyword == "dest":
                dest = only_const(self.eval(value, frame))
                return (dest, dest) if isinstance(dest, str) else (None, None)
        flags = []
        for arg in call.args:
            if arg[0] != "k" or not isinstance(arg[1], str):
                break
            flags.append(arg[1])
        if not flags:
            return None, None
        long_flags = [f for f in flags if f.startswith("--")]
        chosen = long_flags[0] if long_flags else flags[0]
        dest = chosen.lstrip("-").replace("-", "_")
        return (dest or None), chosen
