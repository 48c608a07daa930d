"""Notebooks (`.ipynb`): checked as one module of their Python cells, IPython syntax kept
verbatim, locations in ruff's `cell N:row:column` form, fixes written into the changed
cells' `source` only. The fixtures are a Colab notebook (2-space JSON, ids in metadata,
outputs, magics, shell escapes, a `%%bash` cell) and a Jupyter one (1-space sorted JSON,
non-ASCII text, a cell stored as one string, `%%writefile`, `%time`, `%%capture`)."""

import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from torchlint import cli
from torchlint.notebook import Notebook, ipython_lines

NOTEBOOKS = ROOT / "fixtures" / "notebooks"
COLAB = "colab_cifar_training.ipynb"
JUPYTER = "jupyter_mnist_mlp.ipynb"

# (file, code, cell, row, column, what the cell's line has at that column), read off the
# cells by hand.
EXPECTED = {
    (COLAB, "TL102", 6, 1, 16, "DataLoader(train_set"),
    (COLAB, "TL201", 7, 15, 1, "model = Net()"),
    (COLAB, "TL402", 8, 4, 5, "for images, labels in"),
    (COLAB, "TL403", 8, 4, 5, "for images, labels in"),
    (COLAB, "TL401", 10, 9, 21, "model(images)"),
    (JUPYTER, "TL402", 6, 3, 5, "for x, y in loader"),
    (JUPYTER, "TL301", 6, 9, 24, "loss.item()"),
    (JUPYTER, "TL302", 6, 10, 9, "torch.cuda.empty_cache()"),
}


def torchlint(*args, stdin: bytes | None = None):
    return CliRunner().invoke(cli.main, [*args[:1], "--isolated", "--no-cache", "-j", "1", *args[1:]], input=stdin)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("notebooks")
    for name in (COLAB, JUPYTER):
        shutil.copy(NOTEBOOKS / name, directory / name)
    return directory


@pytest.fixture
def inside(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    return workdir


@pytest.fixture(scope="module")
def findings(workdir):
    """The JSON report of a directory walk over both notebooks."""
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        result = torchlint("check", "--output-format", "json", ".")
    finally:
        os.chdir(previous)
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)


def cell_line(path: Path, cell: int, row: int) -> str:
    source = json.loads(path.read_text(encoding="utf-8"))["cells"][cell - 1]["source"]
    text = "".join(source) if isinstance(source, list) else source
    return text.splitlines()[row - 1]


def test_a_walk_finds_the_notebooks_and_reports_each_finding_in_its_cell(findings, workdir):
    got = {(Path(f["filename"]).name, f["code"], f["cell"], f["location"]["row"], f["location"]["column"]) for f in findings}
    assert got == {entry[:5] for entry in EXPECTED}
    for name, _, cell, row, column, text in EXPECTED:
        assert cell_line(workdir / name, cell, row)[column - 1 :].startswith(text)


def test_cells_and_rows_are_numbered_as_ruff_numbers_them(tmp_path):
    """A probe import appended to every code cell of both fixtures (after magics, shell
    escapes, help, a `%%bash` cell): ruff's F401 locations are the ones torchlint's
    mapping gives the same lines."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=sysconfig.get_path("scripts"))
    if ruff is None:
        pytest.skip("ruff is not installed")
    for name in (COLAB, JUPYTER):
        document = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        for number, cell in enumerate(document["cells"], start=1):
            if cell["cell_type"] == "code":
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = source.rstrip("\n") + f"\nimport probe_{number}\n"
        path = tmp_path / name
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        report = subprocess.run([ruff, "check", "--isolated", "--select", "F401", "--output-format", "json", str(path)],
                                capture_output=True, text=True, timeout=60, check=False)
        theirs = {(f["message"].split("`")[1], f["cell"], f["location"]["row"], f["location"]["column"])
                  for f in json.loads(report.stdout) if "probe_" in f["message"]}
        notebook = Notebook.parse(path.read_text(encoding="utf-8"))
        markers, _ = notebook.layout(notebook.text)
        ours = set()
        for row, line in enumerate(notebook.text.splitlines(), start=1):
            if line.startswith("import probe_"):
                cell, cell_row = notebook.locate(markers, row)
                ours.add((line.split()[1], cell, cell_row, 8))
        assert len(theirs) >= 6 and ours == theirs, (name, ours ^ theirs)


def test_concise_and_full_formats_name_the_cell(inside):
    concise = torchlint("check", "--output-format", "concise", COLAB)
    assert f"{COLAB}:cell 6:1:16: TL102 [*] " in concise.stdout
    full = torchlint("check", "--output-format", "full", COLAB)
    # The code frame is the cell's own text, numbered from its first line.
    frame = full.stdout.split(f"{COLAB}:cell 7:15:1: TL201")[1]
    assert "15 | model = Net()" in frame and "14 | torch.manual_seed(0)" in frame


def test_github_and_sarif_point_at_the_notebooks_json_lines(inside, findings):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    github = torchlint("check", "--output-format", "github", ".").stdout.splitlines()
    sarif = json.loads(torchlint("check", "--output-format", "sarif", ".").stdout)
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(github) == len(results) == len(findings)
    for annotation, result, finding in zip(github, results, findings):
        name = Path(finding["filename"]).name
        fields = dict(re.findall(r"(\w+)=([^,:]+)", annotation.split("::")[1]))
        line, column = int(fields["line"]), int(fields["col"])
        assert fields["file"] == name
        raw_line = (inside / name).read_text(encoding="utf-8").splitlines()[line - 1]
        code = cell_line(inside / name, finding["cell"], finding["location"]["row"])[finding["location"]["column"] - 1 :]
        assert raw_line[column - 1 :].startswith(json.dumps(code, ensure_ascii=False)[1:10]), (annotation, raw_line)
        assert annotation.endswith(f"::cell {finding['cell']}:{finding['location']['row']}:{finding['location']['column']}: "
                                   + finding["message"].replace("%", "%25"))
        region = result["locations"][0]["physicalLocation"]["region"]
        assert (region["startLine"], region["startColumn"]) == (line, column)
        assert "fixes" not in result  # edits within a cell are not regions of the file


def test_fix_shows_a_diff_per_cell(inside):
    result = torchlint("fix", COLAB)
    assert result.exit_code == 1
    assert f"--- {COLAB}:cell 6\n+++ {COLAB}:cell 6\n" in result.stdout
    assert "+model = model.to(device)" in result.stdout


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    """Both notebooks after `fix --apply --unsafe-fixes`, and a second run's exit code."""
    directory = tmp_path_factory.mktemp("fixed")
    for name in (COLAB, JUPYTER):
        shutil.copy(NOTEBOOKS / name, directory / name)
    previous = os.getcwd()
    os.chdir(directory)
    try:
        first = torchlint("fix", "--apply", "--unsafe-fixes", ".")
        before = {name: (directory / name).read_bytes() for name in (COLAB, JUPYTER)}
        second = torchlint("fix", "--apply", "--unsafe-fixes", ".")
        after = {name: (directory / name).read_bytes() for name in (COLAB, JUPYTER)}
    finally:
        os.chdir(previous)
    assert "Fixed " in first.stdout, first.output
    assert before == after and "Fixed" not in second.stdout, second.output
    return directory


JSON_STRING_LINE = re.compile(r'^\s*"(?:[^"\\]|\\.)*",?$')


@pytest.mark.parametrize("name", [COLAB, JUPYTER])
def test_fix_rewrites_only_the_source_of_changed_cells(fixed, name):
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.reads((fixed / name).read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT))
    original_text = (NOTEBOOKS / name).read_text(encoding="utf-8")
    fixed_text = (fixed / name).read_text(encoding="utf-8")
    original, result = json.loads(original_text), json.loads(fixed_text)
    changed = 0
    for before, after in zip(original["cells"], result["cells"]):
        assert list(before) == list(after)  # key order
        assert {k: v for k, v in before.items() if k != "source"} == {k: v for k, v in after.items() if k != "source"}
        assert type(before["source"]) is type(after["source"])
        old = "".join(before["source"])
        new = "".join(after["source"])
        changed += old != new
        # Every IPython line is still there, unchanged and in order.
        kept = [line for line, ipython in zip(old.splitlines(), ipython_lines(old.splitlines(keepends=True))) if ipython]
        assert [line for line in new.splitlines() if line in kept] == kept
    assert changed >= 1
    assert {k: v for k, v in original.items() if k != "cells"} == {k: v for k, v in result.items() if k != "cells"}
    # Byte for byte, only lines of the sources differ: same indentation, escapes, order.
    import difflib

    for line in difflib.ndiff(original_text.splitlines(), fixed_text.splitlines()):
        if line.startswith(("- ", "+ ")):
            assert JSON_STRING_LINE.match(line[2:]), line


RUN_CELLS = """
import json, sys, warnings
warnings.simplefilter("ignore")
from torchlint.notebook import Notebook
module = Notebook.parse(open(sys.argv[1], encoding="utf-8").read()).text
exec(compile(module, sys.argv[1], "exec"), {"__name__": "__main__"})
"""


@pytest.mark.parametrize("name", [COLAB, JUPYTER])
def test_fixed_notebooks_run_and_compute_the_same(fixed, name, tmp_path, run_script):
    """The cells run in order (IPython lines as `pass`), before and after the fixes, on
    this machine's device: the same printed losses and accuracies."""
    pytest.importorskip("torch")
    outputs = []
    for path in (NOTEBOOKS / name, fixed / name):
        code, stdout, stderr = run_script(["-c", RUN_CELLS, path], tmp_path, {"PYTHONPATH": str(ROOT)})
        assert code == 0, stderr[-2000:]
        outputs.append(stdout)
    assert outputs[0] == outputs[1] and ("loss" in outputs[0] or "époque" in outputs[0])


def notebook_of(*cells: str, language: str = "python") -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                   "source": cell.splitlines(keepends=True)} for i, cell in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "k", "display_name": "k", "language": language}},
        "nbformat": 4, "nbformat_minor": 5,
    }, indent=1)


LOADER = "from torch.utils.data import DataLoader\nimport torch\n"
TRAIN = ("model = torch.nn.Linear(4, 2).cuda()\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "for x, y in loader:\n    x, y = x.cuda(), y.cuda()\n    opt.zero_grad()\n"
         "    torch.nn.functional.cross_entropy(model(x), y).backward()\n    opt.step()\n")


def test_noqa_works_per_cell_line_and_for_the_whole_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("plain.ipynb").write_text(notebook_of(LOADER, "loader = DataLoader(range(8), batch_size=4)", TRAIN))
    Path("line.ipynb").write_text(notebook_of(LOADER, "loader = DataLoader(range(8), batch_size=4)  # noqa: TL102", TRAIN))
    Path("file.ipynb").write_text(notebook_of("# torchlint: noqa: TL102\n" + LOADER, "loader = DataLoader(range(8), batch_size=4)", TRAIN))
    result = torchlint("check", "--select", "TL102", "--output-format", "json", ".")
    located = {(Path(f["filename"]).name, f["cell"], f["location"]["row"]) for f in json.loads(result.stdout)}
    assert located == {("plain.ipynb", 2, 1)}


def test_ipython_lines_are_found_where_statements_start():
    cell = [
        "%matplotlib inline\n",
        "!pip install -q torch \\\n",
        "    torchvision\n",  # the shell escape's continuation
        "files = !ls\n",
        "model?\n",
        "??torch.nn.Linear\n",
        "x = 1  # why?\n",
        "y = x % 2\n",
        "s = '''\n",
        "%not a magic inside a string\n",
        "'''\n",
        "z = (1,\n",
        "     !2)\n",  # inside brackets: Python's problem, not a shell escape
        "    %time f()\n",
    ]
    assert ipython_lines(cell) == [True, True, True, True, True, True, False, False, False, False, False, False, False, True]


def test_the_module_the_rules_see():
    notebook = Notebook.parse(notebook_of("%%bash\nnvidia-smi", "%time import torch\nx = torch.ones(1)\n!ls", "%%time\ny = 2"))
    compile(notebook.text, "nb", "exec")
    assert "nvidia-smi" not in notebook.text  # a %%bash cell is not Python
    assert "\nimport torch  # torchlint-ipython" in notebook.text  # %time's statement is still seen
    assert Notebook.parse(notebook_of("import torch", language="R")).text == ""


def test_bad_notebooks_get_one_line_errors_and_the_others_are_still_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("broken.ipynb").write_text('{"cells": [')
    Path("old.ipynb").write_text(json.dumps({"worksheets": [], "nbformat": 3, "nbformat_minor": 0}))
    Path("binary.ipynb").write_bytes(b"\xff\xfe\x00")
    Path("syntax.ipynb").write_text(notebook_of("import torch", "def f(:\n    pass"))
    Path("good.ipynb").write_text(notebook_of(LOADER, "loader = DataLoader(range(8), batch_size=4)", TRAIN))
    result = torchlint("check", "--select", "TL102", "--output-format", "concise", ".")
    assert result.exit_code == 1  # as for .py files: errors are reported like findings
    lines = sorted(line for line in result.stdout.splitlines() if ".ipynb" in line)
    assert lines[0].startswith("binary.ipynb: error: cannot decode byte 0")
    assert lines[1] == "broken.ipynb: error: not a valid notebook: the JSON ends too early"
    assert lines[2].startswith("good.ipynb:cell 2:1:10: TL102 ")
    assert lines[3].startswith("old.ipynb: error: not a notebook in nbformat 4")
    assert lines[4].startswith("syntax.ipynb:cell 2:1:7: SyntaxError")
    assert "Traceback" not in result.output


def test_extend_exclude_drops_notebooks_from_a_walk(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    result = torchlint("check", "--extend-exclude", "*.ipynb", ".")
    assert result.exit_code == 0 and "ipynb" not in result.stdout


def test_a_notebook_on_stdin(inside):
    data = (inside / JUPYTER).read_bytes()
    checked = torchlint("check", "--output-format", "concise", "--stdin-filename", JUPYTER, "-", stdin=data)
    assert f"{JUPYTER}:cell 6:10:9: TL302" in checked.stdout
    fixed = torchlint("fix", "--unsafe-fixes", "--stdin-filename", JUPYTER, "-", stdin=data)
    document = json.loads(fixed.stdout)
    assert "    torch.cuda.empty_cache()\n" in document["cells"][5]["source"]


def test_a_notebook_is_a_module_of_its_project(tmp_path, monkeypatch):
    """The loader built in data.py feeds a CUDA loop in the notebook: checking data.py
    alone finds the notebook that imports it."""
    monkeypatch.chdir(tmp_path)
    Path("pyproject.toml").write_text("")
    Path("data.py").write_text("from torch.utils.data import DataLoader\n\n\n"
                               "def make_loader(dataset):\n    return DataLoader(dataset, batch_size=64)\n")
    Path("train.ipynb").write_text(notebook_of("import torch\nfrom data import make_loader\n",
                                               "loader = make_loader(range(8))", TRAIN))
    result = torchlint("check", "--select", "TL102", "--output-format", "concise", "data.py")
    assert result.stdout.startswith("data.py:5:12: TL102 "), result.output
    alone = torchlint("check", "--select", "TL102", "--output-format", "concise", "--extend-exclude", "*.ipynb", "data.py")
    assert alone.exit_code == 0, alone.output
