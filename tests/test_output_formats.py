"""Code scanning and CI output: SARIF validated against the official 2.1.0 schema, GitHub
annotations checked line by line against the JSON findings."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A project with findings of several rules, safe fixes among them, and a file that
    does not parse."""
    directory = tmp_path_factory.mktemp("formats")
    for name in ("tutorial_cifar_cnn.py", "step_syncs_classifier.py"):
        shutil.copy(ROOT / "fixtures" / "check" / name, directory / name)
    (directory / "broken.py").write_text("def f(:\n    pass\n")
    return directory


def check(workdir, fmt):
    result = subprocess.run([sys.executable, "-m", "torchlint", "check", "--isolated", "--output-format", fmt, "."],
                            cwd=workdir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    return result.stdout


def test_sarif_validates_against_the_2_1_0_schema_and_matches_the_findings(workdir):
    log = json.loads(check(workdir, "sarif"))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    findings = json.loads(check(workdir, "json"))
    [run] = log["runs"]
    results = run["results"]
    assert len(results) == len(findings)
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {f["code"] or "syntax-error" for f in findings}
    for result, finding in zip(results, findings):
        assert result["ruleId"] == (finding["code"] or "syntax-error")
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"] == finding["message"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == finding["filename"].rpartition("/")[2]
        region = location["region"]
        assert (region["startLine"], region["startColumn"]) == (finding["location"]["row"], finding["location"]["column"])
        assert ("fixes" in result) == bool(finding["fix"] and finding["fix"]["edits"])
    described = next(r for r in rules if r["id"] == "TL301")
    assert described["name"] == "host-sync-in-step" and "## Why is this bad?" in described["help"]["markdown"]


def test_github_annotations_follow_the_json_findings_line_by_line(workdir):
    lines = check(workdir, "github").splitlines()
    findings = json.loads(check(workdir, "json"))
    assert len(lines) == len(findings)
    for line, finding in zip(lines, findings):
        name = finding["filename"].rpartition("/")[2]
        code = finding["code"] or "syntax-error"
        expected = (
            f"::error title=torchlint ({code}),file={name},line={finding['location']['row']},"
            f"col={finding['location']['column']},endLine={finding['end_location']['row']},"
            f"endColumn={finding['end_location']['column']}::"
        )
        assert line.startswith(expected), line
        assert line[len(expected):] == finding["message"].replace("%", "%25").replace("\n", "%0A")


def test_github_properties_are_escaped():
    from torchlint.engine import Diagnostic
    from torchlint.output import github_lines

    [line] = github_lines([Diagnostic("a,b:c.py", "TL101", "n", "50% done\nnext", 3, 4, 3, 9)])
    assert line == "::error title=torchlint (TL101),file=a%2Cb%3Ac.py,line=3,col=4,endLine=3,endColumn=9::50%25 done%0Anext"
