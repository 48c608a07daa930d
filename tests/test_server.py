"""`torchlint server` driven by a real client: a subprocess speaking JSON-RPC over stdio,
framed by Content-Length headers, as an editor does."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("pygls")

TRAIN = """\
import torch
from torch.utils.data import DataLoader

from data import make_dataset

device = torch.device("cuda")
loader = DataLoader(make_dataset(), batch_size=64, shuffle=True, num_workers=4, persistent_workers=True)
model = torch.nn.Linear(8, 2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
with torch.autocast("cuda", dtype=torch.bfloat16):
    for epoch in range(3):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
"""

DATA = """\
import torch


def make_dataset():
    return torch.utils.data.TensorDataset(torch.randn(256, 8), torch.randint(0, 2, (256,)))
"""


class Client:
    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "torchlint", "server"], cwd=cwd, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            self.messages.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, method: str, params=None, request: bool = False):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def request(self, method: str, params=None, timeout: float = 60):
        ident = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == ident and "method" not in m, timeout)

    def wait(self, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no such message from the server")
            message = self.messages.get(timeout=remaining)
            if predicate(message):
                return message

    def diagnostics(self, uri: str, timeout: float = 60) -> list[dict]:
        message = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri, timeout)
        return message["params"]["diagnostics"]


def apply_edits(text: str, edits: list[dict]) -> str:
    lines = text.splitlines(keepends=True)

    def offset(position):
        return sum(len(line) for line in lines[: position["line"]]) + position["character"]

    for edit in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        start, end = offset(edit["range"]["start"]), offset(edit["range"]["end"])
        text = text[:start] + edit["newText"] + text[end:]
        lines = text.splitlines(keepends=True)
    return text


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "data.py").write_text(DATA)
    return tmp_path


def test_the_server_checks_fixes_follows_other_files_and_settings_and_exits_cleanly(project):
    client = Client(project)
    try:
        answer = client.request("initialize", {"processId": os.getpid(), "rootUri": project.as_uri(), "capabilities": {}})
        capabilities = answer["result"]["capabilities"]
        assert answer["result"]["serverInfo"]["name"] == "torchlint"
        assert capabilities["codeActionProvider"]["codeActionKinds"] == ["quickfix", "source.fixAll.torchlint"]
        client.send("initialized", {})

        train = (project / "train.py").as_uri()
        client.send("textDocument/didOpen", {"textDocument": {"uri": train, "languageId": "python", "version": 1, "text": TRAIN}})
        [finding] = client.diagnostics(train)
        assert finding["code"] == "TL102" and finding["source"] == "torchlint"
        line = TRAIN.splitlines()[6]
        assert finding["range"] == {"start": {"line": 6, "character": line.index("DataLoader")}, "end": {"line": 6, "character": len(line)}}
        assert finding["codeDescription"]["href"].endswith("TL102-dataloader-no-pin-memory.md")

        # The quick fix, applied as the editor would; "fix all" gives what `torchlint fix`
        # writes (in passes: pinned memory, then the copies that it lets overlap).
        actions = client.request("textDocument/codeAction", {
            "textDocument": {"uri": train}, "range": finding["range"],
            "context": {"diagnostics": [finding]},
        })["result"]
        titles = [a["title"] for a in actions]
        assert titles == ["TL102: Set `pin_memory=torch.cuda.is_available()`", "TL102: Suppress with `# noqa: TL102`",
                          "torchlint: Fix all safe fixes"]
        quick_fix, noqa, _ = actions
        assert quick_fix["isPreferred"] is True
        fixed = apply_edits(TRAIN, quick_fix["edit"]["changes"][train])
        assert fixed == TRAIN.replace("persistent_workers=True)", "persistent_workers=True, pin_memory=torch.cuda.is_available())")
        expected = subprocess.run([sys.executable, "-m", "torchlint", "fix", "--stdin-filename", "train.py", "-"],
                                  input=TRAIN, cwd=project, capture_output=True, text=True, check=False,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
        assert "non_blocking=True" in expected
        assert apply_edits(TRAIN, noqa["edit"]["changes"][train]).splitlines()[6].endswith(
            "persistent_workers=True)  # noqa: TL102")
        fix_all = client.request("textDocument/codeAction", {
            "textDocument": {"uri": train}, "range": finding["range"],
            "context": {"diagnostics": [], "only": ["source.fixAll"]},
        })["result"]
        assert [a["title"] for a in fix_all] == ["torchlint: Fix all safe fixes"]
        assert apply_edits(TRAIN, fix_all[0]["edit"]["changes"][train]) == expected

        # The editor applies the quick fix: after the debounce, TL102 is gone and the
        # copies from pinned memory are flagged.
        client.send("textDocument/didChange", {"textDocument": {"uri": train, "version": 2},
                                               "contentChanges": [{"text": fixed}]})
        assert {d["code"] for d in client.diagnostics(train)} == {"TL105"}

        # An unsaved edit to data.py updates train.py: a dataset already on the GPU
        # needs no pinned memory.
        client.send("textDocument/didChange", {"textDocument": {"uri": train, "version": 3}, "contentChanges": [{"text": TRAIN}]})
        assert [d["code"] for d in client.diagnostics(train)] == ["TL102"]
        data = (project / "data.py").as_uri()
        client.send("textDocument/didOpen", {"textDocument": {"uri": data, "languageId": "python", "version": 1, "text": DATA}})
        assert client.diagnostics(data) == []
        assert [d["code"] for d in client.diagnostics(train)] == ["TL102"]  # every open document is checked again
        on_gpu = DATA.replace("torch.randn(256, 8)", 'torch.randn(256, 8, device="cuda")')
        client.send("textDocument/didChange", {"textDocument": {"uri": data, "version": 2}, "contentChanges": [{"text": on_gpu}]})
        assert client.diagnostics(train) == []
        client.send("textDocument/didChange", {"textDocument": {"uri": data, "version": 3}, "contentChanges": [{"text": DATA}]})
        assert [d["code"] for d in client.diagnostics(train)] == ["TL102"]

        # A file that does not parse gets one error where Python says, nothing else.
        broken = (project / "broken.py").as_uri()
        client.send("textDocument/didOpen", {"textDocument": {"uri": broken, "languageId": "python", "version": 1,
                                                              "text": "def f(:\n    pass\n"}})
        [error] = client.diagnostics(broken)
        assert error["severity"] == 1 and error["code"] == "syntax-error" and error["range"]["start"]["line"] == 0
        client.send("textDocument/didClose", {"textDocument": {"uri": broken}})
        assert client.diagnostics(broken) == []

        # Settings: ignoring TL102 in pyproject.toml applies at the next check.
        (project / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL102"]\n')
        client.send("textDocument/didSave", {"textDocument": {"uri": train}})
        assert client.diagnostics(train) == []

        # A broken configuration is logged; the server keeps running.
        (project / "pyproject.toml").write_text('[tool.torchlint]\nselect = ["NOPE"]\n')
        client.send("textDocument/didSave", {"textDocument": {"uri": train}})
        logged = client.wait(lambda m: m.get("method") == "window/logMessage")
        assert "NOPE" in logged["params"]["message"]
        (project / "pyproject.toml").write_text("[tool.torchlint]\n")
        client.send("textDocument/didSave", {"textDocument": {"uri": train}})
        assert [d["code"] for d in client.diagnostics(train)] == ["TL102"]

        assert client.request("shutdown")["result"] is None
        client.send("exit")
        assert client.process.wait(timeout=30) == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()
