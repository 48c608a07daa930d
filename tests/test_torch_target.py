"""Which torch a project targets: the setting, else its pins (each source, in order),
else a current torch; a pin that cannot be read is a warning, never a crash."""

import subprocess
import sys

import pytest

from torchlint.project.torch_target import from_setting, resolve, target_of_spec


@pytest.mark.parametrize(
    "spec, before_2",
    [
        ("==1.7.1", True), ("==1.13.1+cu117", True), (">=1.4,<1.10", True), ("~=1.12", True), ("~=1.12.1", True),
        ("==1.*", True), ("<2", True), ("<=1.13", True), ("=1.7", True),  # conda spells `=`
        (">=1.6", False), (">=2.0", False), ("==2.0.1", False), ("<2.0.1", False), ("<3", False), ("!=1.8", False),
    ],
)
def test_a_requirement_admits_torch_2_or_not(spec, before_2):
    assert target_of_spec(spec, "requirements.txt").before((2, 0)) is before_2


@pytest.mark.parametrize("spec", ["==abc", "<<1", "==", "~=1"])
def test_an_unreadable_spec_is_none(spec):
    assert target_of_spec(spec, "requirements.txt") is None


SOURCES = {
    "requirements.txt": "numpy\ntorch==1.7.1  # the cluster's\n",
    "requirements/train.txt": "torch==1.8.0\n",
    "environment.yml": "dependencies:\n  - python=3.8\n  - pytorch=1.9.0\n",
    "pyproject.toml": '[project]\nname = "x"\ndependencies = ["torch>=1.10,<1.11"]\n',
    "setup.cfg": "[options]\ninstall_requires =\n    numpy\n    torch==1.11.0\n",
    "setup.py": 'from setuptools import setup\nREQUIRES = ["torch==1.12.0"]\nsetup(name="x", install_requires=REQUIRES)\n',
}
ORDER = ["requirements.txt", "requirements/train.txt", "environment.yml", "pyproject.toml", "setup.cfg", "setup.py"]
UPPER = {"requirements.txt": (1, 7, 1), "requirements/train.txt": (1, 8, 0), "environment.yml": (1, 9, 0),
         "pyproject.toml": (1, 11), "setup.cfg": (1, 11, 0), "setup.py": (1, 12, 0)}


@pytest.mark.parametrize("first", range(len(ORDER)))
def test_each_source_is_read_and_the_first_in_order_decides(tmp_path, first):
    for name in ORDER[first:]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(SOURCES[name])
    target = resolve(tmp_path)
    assert target.upper == UPPER[ORDER[first]] and target.source.startswith(ORDER[first])


def test_the_setting_wins_over_every_pin(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch==1.7.1\n")
    assert resolve(tmp_path, "2.1").before((2, 0)) is False
    assert resolve(tmp_path).before((2, 0)) is True


def test_a_bare_torch_pins_nothing_and_the_next_source_decides(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch\ntorchvision\n")
    (tmp_path / "setup.py").write_text('setup(install_requires=["torch>=1.4,<1.9"])\n')
    assert resolve(tmp_path).upper == (1, 9)


def test_no_pin_assumes_a_current_torch(tmp_path):
    target = resolve(tmp_path)
    assert target.upper is None and not target.before((2, 0)) and "assumed current" in target.describe()


def test_a_poetry_caret_is_an_upper_bound(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.poetry.dependencies]\ntorch = "^1.12"\n')
    assert resolve(tmp_path).before((2, 0))


def test_an_unreadable_pin_is_a_warning_and_skipped(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch==latest\n")
    (tmp_path / "setup.py").write_text('setup(install_requires=["torch==1.6.0"])\n')
    target = resolve(tmp_path)
    assert target.upper == (1, 6, 0) and any("torch==latest" in w for w in target.warnings)


def test_the_setting_is_validated():
    with pytest.raises(ValueError):
        from_setting("two")


def test_cli_warns_about_an_unreadable_pin_and_says_the_target_when_verbose(tmp_path):
    (tmp_path / "requirements.txt").write_text("torch==latest\n")
    (tmp_path / "train.py").write_text("import torch\n")
    run = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "-v", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "warning: requirements.txt: cannot read the torch pin `torch==latest`" in run.stderr
    assert "targets a current torch" in run.stderr and "Traceback" not in run.stderr
    quiet = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert "targets" not in quiet.stderr


def test_a_bad_setting_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\ntarget-torch = "new"\n')
    (tmp_path / "train.py").write_text("import torch\n")
    run = subprocess.run([sys.executable, "-m", "torchlint", "check", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 2 and "target-torch" in run.stderr and "Traceback" not in run.stderr
