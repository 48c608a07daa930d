"""TL401 eval-without-no-grad."""

import pytest

SCRIPT = """
import torch
from torch.utils.data import DataLoader
loader = DataLoader(val_set, batch_size=64, num_workers=2)
model = torch.nn.Linear(4, 2)

{decorator}
def evaluate(model, loader):
    model.eval()
    total = 0
{body}
    return total

print(evaluate(model, loader))
"""
LOOP = "    for x, y in loader:\n        total += (model(x).argmax(1) == y).sum()"


def findings(lint, body=LOOP, decorator="", script=SCRIPT):
    return sorted(line for line, _ in lint(script.format(body=body, decorator=decorator), codes={"TL401"}))


def test_flags_an_evaluation_loop_with_grad_on(lint):
    assert findings(lint) == [12]


@pytest.mark.parametrize(
    "decorator, body",
    [
        ("@torch.no_grad()", LOOP),
        ("@torch.inference_mode()", LOOP),
        ("@torch.no_grad", LOOP),
        ("", "    with torch.no_grad():\n" + "\n".join("    " + line for line in LOOP.splitlines())),
        ("", "    with torch.set_grad_enabled(False):\n" + "\n".join("    " + line for line in LOOP.splitlines())),
        ("", "    with torch.set_grad_enabled(flag):\n" + "\n".join("    " + line for line in LOOP.splitlines())),
        ("", LOOP + "\n        x.requires_grad_(True)"),  # gradient-based evaluation
        ("", LOOP + "\n        model(x).sum().backward()"),
    ],
)
def test_silent_when_grad_is_off_or_needed(lint, decorator, body):
    assert findings(lint, body, decorator) == []


def test_silent_when_every_caller_turns_grad_off(lint):
    source = SCRIPT.replace("print(evaluate(model, loader))", "with torch.no_grad():\n    print(evaluate(model, loader))")
    assert findings(lint, script=source) == []


def test_silent_without_eval_mode_and_for_lightning_hooks(lint):
    no_eval = SCRIPT.replace("    model.eval()\n", "")
    assert findings(lint, script=no_eval) == []
    hook = """
    import torch
    import lightning as L
    class Module(L.LightningModule):
        def validation_step(self, batch, batch_idx):
            self.eval()
            for x in batch:
                self.net(x)
    """
    assert lint(hook, codes={"TL401"}) == set()


def test_a_validation_function_in_another_module(tmp_path):
    from textwrap import dedent

    from torchlint.run import Run, check
    from torchlint.settings import Settings

    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "engine.py").write_text(dedent("""
        def validate(model, loader):
            model.eval()
            return [model(x) for x, _ in loader]
    """))
    (tmp_path / "train.py").write_text(dedent("""
        import torch
        from torch.utils.data import DataLoader
        from engine import validate
        model = torch.nn.Linear(4, 2)
        loader = DataLoader(ds, batch_size=64, num_workers=2)
        print(len(validate(model, loader)))
    """))
    run = Run(Settings(select=["TL401"], root=tmp_path), {"TL401"})
    found = check(run, [tmp_path / "engine.py", tmp_path / "train.py"], jobs=1, use_cache=False, arguments=[tmp_path])
    assert [(d.filename.rpartition("/")[2], d.row) for d in found] == [("engine.py", 4)]


def test_the_fix_decorates_unless_a_caller_differentiates_the_result():
    from textwrap import dedent

    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    rules = build_rules({"TL401"}, RuleOptions())
    fixed = fix_source(dedent(SCRIPT.format(body=LOOP, decorator="")), "t.py", rules, unsafe=True).source
    assert "\n@torch.no_grad()\ndef evaluate(model, loader):" in fixed
    differentiated = SCRIPT.replace("print(evaluate(model, loader))", "score = evaluate(model, loader)\nscore.backward()")
    assert not fix_source(dedent(differentiated.format(body=LOOP, decorator="")), "t.py", rules, unsafe=True).changed
