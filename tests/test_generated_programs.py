"""Properties over generated programs (hypothesmith), each followed by a training loop
that every rule has something to say about: checking never fails inside torchlint, a fix
never produces code that its parser rejects, and fixing twice changes nothing the second
time. A bounded, derandomized run; `benchmarks/fuzz.py` runs 10,000 and more, with a
mutation pass over real code."""

import pytest

hypothesmith = pytest.importorskip("hypothesmith")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torchlint.engine import build_rules  # noqa: E402
from torchlint.fixes.apply import compile_problem, fix_source  # noqa: E402
from torchlint.engine import lint_source  # noqa: E402
from torchlint.rules import all_rules  # noqa: E402
from torchlint.settings import RuleOptions  # noqa: E402

TRAINING = """
import torch
from torch.utils.data import DataLoader

device = torch.device("cuda")
loader = DataLoader(range(64), batch_size=8)
model = torch.nn.Conv2d(3, 8, 3)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
total = 0.0
for epoch in range(2):
    for x in loader:
        x = x.to(device)
        optimizer.zero_grad()
        loss = model(x).sum()
        loss.backward()
        optimizer.step()
        total += loss.item()
        torch.cuda.empty_cache()
print(total)
"""

RULES = build_rules({rule.code for rule in all_rules()}, RuleOptions())


def check_properties(source: str) -> None:
    diagnostics = lint_source(source, "generated.py", RULES)
    assert not [d for d in diagnostics if d.kind == "internal-error"], diagnostics
    result = fix_source(source, "generated.py", RULES, unsafe=True)
    assert not [d for d in result.remaining if d.kind == "internal-error"]
    if result.error is None and result.changed:
        assert compile_problem(result.source, "generated.py", original=source) is None
        again = fix_source(result.source, "generated.py", RULES, unsafe=True)
        assert not again.changed, "a second fix pass changed the code again"


programs = st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node())


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(program=programs, where=st.sampled_from(["before", "after", "alone"]))
def test_generated_programs_around_a_training_loop(program, where):
    source = {"before": program + "\n" + TRAINING, "after": TRAINING + "\n" + program, "alone": program}[where]
    check_properties(source)
