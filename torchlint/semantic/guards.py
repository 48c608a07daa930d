"""Guard heuristics: how often code under an `if` (or after an early exit, or in an
`except`) runs, relative to the loop around it: every k steps (`if step % k == 0`),
behind a flag (`if args.debug`), once (`if i == 0`), on errors, in evaluation mode
(`if not self.training`), for one type of value among several.

The summary builder (project/summary/builder.py) asks these questions while it walks a
module's syntax tree and stores only the answer, the guard kind of each call, loop and
host use (`Call.gate`, ...): the syntax tree is gone once a summary is cached, and rules
read `call.gate` directly. Reading a kind is the semantic layer's business (frequency.py).
"""

from __future__ import annotations

import ast
import re

# `if step % k == 0`, `if args.debug`, `if i == 0`: code under such a guard does not run
# on every iteration of the loop around it.
GATE_EVERY_K, GATE_FLAG, GATE_ONCE, GATE_EXCEPT, GATE_RARE = "every-k", "flag", "once", "except", "rare"
GATE_EVAL = "eval"  # the evaluation-mode path of a module (`if not self.training:`)
GATE_TYPE = "type"  # a branch for one type of value among several


# Names of flags that switch on extra work (`if args.debug:`), of checks for what should not
# happen (`torch.isnan`), of counters (`step % k`), and of the run's configuration (`args.x`).
_FLAG_WORDS = re.compile(r"(?i)debug|verbose|log|print|profil|vis|plot|save|check|dump|trace|show|sanity")
_RARE_CHECKS = frozenset(("isnan", "isinf", "isfinite", "is_nan", "is_inf"))
_COUNTER = re.compile(r"(?i)step|iter|idx|index|batch|epoch|count|update|^(?:i|j|k|n|t|it|itr|b|e|ep|T)$")
_SETTINGS = re.compile(r"^(args|opt|opts|cfg|config|conf|hparams|hp|flags|FLAGS|params|options|settings)$")


def gate_after(statement) -> str:
    """The gate on the statements that follow an early exit: `if <test>: return/continue`
    lets the rest run only when the test fails."""
    if not isinstance(statement, ast.If) or statement.orelse or not statement.body:
        return ""
    if not isinstance(statement.body[-1], (ast.Return, ast.Raise, ast.Continue)):
        return ""
    test = statement.test
    if training_test(test) is True:
        return GATE_EVAL
    # `if step % k != 0:` / `if step % k:` skips all but every k-th step.
    modulo = test.left if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotEq) else test
    if isinstance(modulo, ast.BinOp) and isinstance(modulo.op, ast.Mod) and _counts(modulo.left):
        return GATE_EVERY_K
    # `if not args.log_images: return`: the rest runs only with the option on.
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and gate_of(test.operand) == GATE_FLAG:
        return GATE_FLAG
    return ""


def training_test(test) -> bool | None:
    """True for `self.training` (or `model.training`), False for `not self.training`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = training_test(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.Attribute) and test.attr == "training":
        return True
    return None


def _is_setting(expr) -> bool:
    """`args.x`, `cfg.train.x`, `self.config.x`: a value of the run's configuration."""
    if not isinstance(expr, ast.Attribute):
        return False
    root = expr.value
    while isinstance(root, ast.Attribute):
        if _SETTINGS.match(root.attr):
            return True
        root = root.value
    return isinstance(root, ast.Name) and bool(_SETTINGS.match(root.id))


def _counts(expr) -> bool:
    """`step % 10`, `(i + 1) % k`: the left side of an every-k test is a counter. A
    modulo of sizes (`(seq_len + pred_len) % period`) is no cadence."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and _COUNTER.search(node.id):
            return True
        if isinstance(node, ast.Attribute) and _COUNTER.search(node.attr):
            return True
    return False


def gate_of(test) -> str:
    """How often a block under this `if` runs, relative to the loop around it."""
    for node in ast.walk(test):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _counts(node.left):
            return GATE_EVERY_K
        if isinstance(node, (ast.Attribute, ast.Name)) and (node.attr if isinstance(node, ast.Attribute) else node.id) in _RARE_CHECKS:
            return GATE_RARE  # `if torch.isnan(loss).any():` handles what should not happen
    if isinstance(test, ast.BoolOp):
        kinds = {gate_of(v) for v in test.values}
        if isinstance(test.op, ast.And):
            for kind in (GATE_EVERY_K, GATE_ONCE, GATE_FLAG, GATE_TYPE):
                if kind in kinds:
                    return kind
        return ""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        sides = [test.left, test.comparators[0]]
        numbers = [s for s in sides if isinstance(s, ast.Constant) and type(s.value) is int]
        if numbers or any(isinstance(s, ast.BinOp) for s in sides):
            return GATE_ONCE  # `i == 0`, `step == total_steps - 1`
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance":
        return GATE_TYPE  # `if isinstance(v, torch.Tensor):` handles values that may not be
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        sides = [test.left, test.comparators[0]]
        if any(_is_setting(side) for side in sides) and any(isinstance(side, ast.Constant) for side in sides):
            return GATE_FLAG  # `if args.empty_cache_level >= 1:`: a setting, fixed for the run
    target = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
    if isinstance(target, (ast.Name, ast.Attribute)):
        spelled = target.id if isinstance(target, ast.Name) else target.attr
        if _FLAG_WORDS.search(spelled):
            return GATE_FLAG  # `if args.debug:`, `if self.log_images:`
    return ""
