"""TL301 host-sync-in-step."""

import pytest

SCRIPT = """
import time
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)
model = torch.nn.Linear(4, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
writer = SummaryWriter()
total = 0.0
for step, (x, y) in enumerate(loader):
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    out = model(x)
    loss = F.cross_entropy(out, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
{body}
"""
LINE = 19


def findings(lint, body, script=SCRIPT):
    return sorted(line for line, _ in lint(script.format(body=body), codes={"TL301"}))


@pytest.mark.parametrize(
    "body",
    [
        "    total += loss.item()",
        "    preds = out.argmax(1).cpu().numpy()",
        "    values = out.tolist()",
        '    host = out.to("cpu")',
        "    total += float(loss)",
        "    print(loss)",
        '    print(f"loss {loss:.3f}")',
        '    print("loss %.3f" % loss)',
        "    if torch.isnan(loss):\n        break",
        "    assert loss < 1e6",
        "    while loss > 10:\n        loss = loss / 2",
        "    torch.cuda.synchronize()",
        '    writer.add_scalar("loss", loss, step)',
        "    accuracy = (out.argmax(1) == y).float().mean().item()",
    ],
)
def test_flags_per_step_syncs(lint, body):
    assert findings(lint, body) == [LINE]


def test_one_finding_per_print_however_many_values_it_syncs(lint):
    body = '    print("d %.3f g %.3f" % (\n        loss.item(),\n        out.mean().item(),\n    ))'
    assert findings(lint, body) == [20]


@pytest.mark.parametrize(
    "body",
    [
        "    if step % 100 == 0:\n        print(loss.item())",
        "    if args.verbose:\n        print(loss.item())",
        "    if step % 100 == 0:\n        for name, p in model.named_parameters():\n            print(name, p.norm().item())",
        "    steps = len(x)",
        "    lr = float(optimizer.param_groups[0]['lr'])",
        "    label_count = torch.tensor([1, 2, 3]).sum().item()",  # a host tensor
        "    t0 = time.perf_counter()\n    torch.cuda.synchronize()\n    elapsed = time.perf_counter() - t0",
        "    n = int(y.max().item())\n    hist = torch.zeros(n, device=device)",  # needed as a size
        "    limit = y.max().item()\n    for i in range(limit):\n        pass",
    ],
)
def test_silent_for_gated_host_and_needed_syncs(lint, body):
    assert findings(lint, body) == []


def test_silent_per_epoch_and_in_evaluation(lint):
    source = """
    import torch
    import torch.nn.functional as F
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        for x, y in train_loader:
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: last loss {loss.item():.3f}")
        with torch.no_grad():
            for x, y in val_loader:
                correct = (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
    """
    assert lint(source, codes={"TL301"}) == set()


def test_silent_on_cpu_only_scripts(lint):
    source = SCRIPT.replace('torch.device("cuda" if torch.cuda.is_available() else "cpu")', '"cpu"')
    assert findings(lint, "    total += loss.item()", script=source) == []


def test_an_action_handed_to_the_environment_is_needed(lint):
    source = """
    import torch
    policy = torch.nn.Linear(4, 2).cuda()
    optimizer = torch.optim.Adam(policy.parameters())
    for episode in range(100):
        obs = env.reset()
        for t in range(200):
            logits = policy(torch.as_tensor(obs, device="cuda"))
            action = logits.argmax().item()
            obs, reward, done, info = env.step(action)
            loss = -logits.max()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    """
    assert lint(source, codes={"TL301"}) == set()


def test_a_helper_in_another_module_syncs_per_step(tmp_path):
    from textwrap import dedent

    from torchlint.run import Run, check
    from torchlint.settings import Settings

    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "logs.py").write_text(dedent("""
        def log_loss(history, loss):
            history.append(loss.item())
    """))
    (tmp_path / "train.py").write_text(dedent("""
        import torch
        from logs import log_loss
        device = torch.device("cuda")
        model = torch.nn.Linear(4, 2).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        history = []
        for x in batches:
            loss = model(x.to(device)).sum()
            loss.backward()
            optimizer.step()
            log_loss(history, loss)
    """))
    run = Run(Settings(select=["TL301"], root=tmp_path), {"TL301"})
    found = check(run, [tmp_path / "logs.py", tmp_path / "train.py"], jobs=1, use_cache=False, arguments=[tmp_path])
    assert [(d.filename.rpartition("/")[2], d.row) for d in found] == [("logs.py", 3)]


def test_evaluation_functions_run_per_step_by_full_batch_training_are_silent(lint):
    source = """
    import torch
    import torch.nn.functional as F
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = torch.optim.Adam(model.parameters())

    def train():
        model.train()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def test():
        model.eval()
        return (model(x).argmax(1) == y).float().mean().cpu()

    def evaluate():
        model.eval()
        return (model(x).argmax(1) == y).sum().item()

    for epoch in range(100):
        loss = train()
        print(epoch, loss, test(), evaluate())
    """
    assert lint(source, codes={"TL301"}) == {(13, "TL301")}


def fixed(body, script=SCRIPT):
    from torchlint.engine import build_rules
    from torchlint.fixes.apply import fix_source
    from torchlint.settings import RuleOptions

    return fix_source(script.format(body=body), "t.py", build_rules({"TL301"}, RuleOptions())).source


def test_the_fix_keeps_a_running_total_on_the_device():
    body = (
        "    total += loss.item() * x.size(0) / 2\n"
        "    if step % 100 == 99:\n"
        '        print(f"loss {total / 100:.4f}", float(total))\n'
        "        total = 0.0\n"
        "print(total)"
    )
    assert fixed(body) == SCRIPT.format(body=(
        "    total += loss.detach().double() * x.size(0) / 2\n"
        "    if step % 100 == 99:\n"
        '        print(f"loss {float(total) / 100:.4f}", float(total))\n'
        "        total = 0.0\n"
        "print(float(total))"
    ))


@pytest.mark.parametrize(
    "body, script",
    [
        # read at every step: the conversion would sync there anyway
        ('    total += loss.item()\n    print(f"{total:.3f}")', SCRIPT),
        # started at an int: `print(total)` would show 0.0 instead of 0 if nothing ran
        ("    total += loss.item()\nprint(total)", SCRIPT.replace("total = 0.0", "total = 0")),
        # grown by something else than numbers
        ("    total += loss.item() + out.mean()\nprint(total)", SCRIPT),
        ("    total += loss.item() / len(x)\nprint(total)", SCRIPT),
        ("    total = total * 0.9 + loss.item()\nprint(total)", SCRIPT),
        # read by a nested function
        ("    total += loss.item()\nshow = lambda: total", SCRIPT),
        # an attribute, not a local name
        ("    model.total += loss.item()\nprint(model.total)", SCRIPT),
        # MPS has no float64
        ("    total += loss.item()\nprint(total)", SCRIPT.replace('"cuda" if torch.cuda.is_available()', '"mps" if torch.backends.mps.is_available()')),
    ],
)
def test_the_fix_is_only_applied_where_it_is_proven(body, script):
    assert fixed(body, script) == script.format(body=body)
