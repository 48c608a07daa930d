"""Summarizing expressions: one `e_<node>` method per kind of `ast` expression turns it
into an Expr (project/summary/model.py), recording the calls, host uses and
comprehension loops it contains on the way. Mixed into the builder (builder.py)."""

from __future__ import annotations

import ast
import re

from torchlint.project.summary.model import UNKNOWN_EXPR, Call, Expr, Loop

_CUDA_STRING = re.compile(r"^\s*cuda\b")
_MPS_STRING = re.compile(r"^\s*mps\b")

BINOPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.MatMult: "@", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitAnd: "&", ast.BitXor: "^",
}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.Invert: "~"}
_COMPARISONS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}


class ExpressionBuilder:
    """The expression handlers of `_Builder`; `_Builder.expr` dispatches to them."""

    def e_Constant(self, node: ast.Constant) -> Expr:
        value = node.value
        if isinstance(value, str):
            if _CUDA_STRING.match(value):
                self.scope.function.cuda_strings += 1
            elif _MPS_STRING.match(value):
                self.scope.function.mps_strings += 1
            return ["k", value]
        if isinstance(value, (bool, int, float)) or value is None:
            return ["k", value]
        return UNKNOWN_EXPR  # bytes, complex, Ellipsis

    def e_JoinedStr(self, node: ast.JoinedStr) -> Expr:
        prefix = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            else:
                break
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                self.host_use("format", part.value, self.expr(part.value))
                if part.format_spec is not None:
                    self.expr(part.format_spec)
        if _CUDA_STRING.match(prefix):
            self.scope.function.cuda_strings += 1
        return ["s", prefix]

    def e_Name(self, node: ast.Name) -> Expr:
        scope = self.scope
        scope.order += 1
        scope.reads.setdefault(node.id, []).append([scope.order, node.lineno, self.column(node.lineno, node.col_offset), -1])
        return ["n", node.id]

    def e_Attribute(self, node: ast.Attribute) -> Expr:
        return ["a", self.expr(node.value), node.attr]

    def e_Call(self, node: ast.Call) -> Expr:
        func = self.expr(node.func)
        receiver_read = None
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            reads = self.scope.reads.get(node.func.value.id)
            if reads:
                receiver_read = reads[-1]
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.append(["*", self.expr(arg.value)])
            else:
                args.append(self.expr(arg))
        keywords = [[k.arg, self.expr(k.value)] for k in node.keywords]
        scope = self.scope
        function = scope.function
        index = len(function.calls)
        function.calls.append(
            Call(func, args, keywords, self.span(node), list(scope.loops), self.gate(),
                 with_block=scope.withs[-1] if scope.withs else -1, conditional=scope.conditional > 0,
                 statement_line=self.statement_line, branch=self.in_branch(),
                 guard=scope.tests[-1] if scope.tests else -1)
        )
        if receiver_read is not None:
            receiver_read[3] = index
        return ["c", index]

    def e_Tuple(self, node) -> Expr:
        items = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                items.append(["*", self.expr(element.value)])
            else:
                items.append(self.expr(element))
        return ["t", items]
    e_List = e_Set = e_Tuple

    def e_Dict(self, node: ast.Dict) -> Expr:
        return ["d", [[None if k is None else self.expr(k), self.expr(v)] for k, v in zip(node.keys, node.values)]]

    def e_Subscript(self, node: ast.Subscript) -> Expr:
        base = self.expr(node.value)
        index = UNKNOWN_EXPR if isinstance(node.slice, ast.Slice) else self.expr(node.slice)
        if isinstance(node.slice, ast.Slice):
            for part in (node.slice.lower, node.slice.upper, node.slice.step):
                if part is not None:
                    self.expr(part)
        return ["i", base, index]

    def e_BinOp(self, node: ast.BinOp) -> Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Mod) and left[0] in ("k", "s") and isinstance(left[1], str):
            # `"loss %.3f" % loss`: each operand is formatted on the host
            operands = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            for operand, value in zip(operands, right[1] if right[0] == "t" else [right]):
                self.host_use("format", operand, value)
        return ["b", BINOPS.get(type(node.op), "?"), left, right]

    def e_Compare(self, node: ast.Compare) -> Expr:
        left = self.expr(node.left)
        rights = [self.expr(c) for c in node.comparators]
        if len(node.ops) == 1:
            return ["b", _COMPARISONS.get(type(node.ops[0]), "?"), left, rights[0]]
        return UNKNOWN_EXPR

    def e_BoolOp(self, node: ast.BoolOp) -> Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        values = [self.expr(v) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = ["b", op, result, value]
        return result

    def e_UnaryOp(self, node: ast.UnaryOp) -> Expr:
        return ["u", _UNARY.get(type(node.op), "?"), self.expr(node.operand)]

    def e_IfExp(self, node: ast.IfExp) -> Expr:
        self.host_use("test", node.test, self.expr(node.test))
        scope = self.scope
        scope.conditional += 1
        result = ["if", self.expr(node.body), self.expr(node.orelse)]
        scope.conditional -= 1
        return result

    def e_NamedExpr(self, node: ast.NamedExpr) -> Expr:
        value = self.expr(node.value)
        self.bind(node.target.id, value, "assign", node)
        return value

    def e_Await(self, node: ast.Await) -> Expr:
        return self.expr(node.value)

    def e_Starred(self, node: ast.Starred) -> Expr:
        return ["*", self.expr(node.value)]

    def comprehension(self, node, element_nodes) -> Expr:
        """Each `for` of a comprehension is a loop (kind "comp") whose body is the rest of
        it. Targets are bound like loop targets in the enclosing function (a
        simplification: they are local to the comprehension in Python), so that
        `{k: v.to(device) for k, v in batch.items()}` is seen moving batch tensors."""
        scope = self.scope
        function = scope.function
        scope.conditional += 1
        entered = 0
        for generator in node.generators:
            iterable = self.expr(generator.iter)
            index = len(function.loops)
            function.loops.append(Loop("comp", iterable, self.span(node), scope.loops[-1] if scope.loops else -1, self.gate(),
                                       branch=self.in_branch()))
            scope.loops.append(index)
            entered += 1
            self.bind_target(generator.target, ["e", iterable], "loop", node)
            for condition in generator.ifs:
                self.expr(condition)
        elements = [self.expr(e) for e in element_nodes]
        del scope.loops[len(scope.loops) - entered :]
        scope.conditional -= 1
        return ["q", elements[-1]]

    def e_ListComp(self, node) -> Expr:
        return self.comprehension(node, [node.elt])
    e_SetComp = e_GeneratorExp = e_ListComp

    def e_DictComp(self, node) -> Expr:
        result = self.comprehension(node, [node.key, node.value])
        return ["d", [[UNKNOWN_EXPR, result[1]]]]

    def e_Yield(self, node) -> Expr:
        function = self.scope.function
        if function.yields is None:
            function.yields = []
        value = self.expr(node.value) if node.value is not None else ["k", None]
        function.yields.append(["e", value] if isinstance(node, ast.YieldFrom) else value)
        return UNKNOWN_EXPR  # what `send()` passes in
    e_YieldFrom = e_Yield
