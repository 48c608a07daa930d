"""The wheel ships the rule pages, and torch is only an optional extra."""

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_rule_pages_and_needs_no_torch(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("torchlint-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    pages = {n.rsplit("/", 1)[1] for n in names if n.startswith("torchlint/_rule_pages/")}
    assert {p.name for p in (ROOT / "rules").glob("*.md")} <= pages
    assert not any(n.startswith("rules/") for n in names), "a top-level `rules` package would shadow others"
    fixtures = {n.rsplit("/", 1)[1] for n in names if n.startswith("torchlint/_runtime_fixtures/")}
    assert {p.name for p in (ROOT / "fixtures" / "runtime").glob("*.py")} <= fixtures  # `torchlint verify` with no script
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    torch_lines = [line for line in requires if line.split()[1].startswith("torch")]
    assert torch_lines and all("extra == 'runtime'" in line or 'extra == "runtime"' in line for line in torch_lines)
    assert any(line.startswith("Requires-Dist: libcst") for line in requires)
