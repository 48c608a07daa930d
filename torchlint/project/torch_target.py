"""Which torch a project targets: the `target-torch` setting, else the project's own pins,
else a current torch. Rules whose advice depends on a release (defaults that changed in
2.0) ask `TorchTarget.before(...)`.

Sources, in order: the environment files say what the code runs with
(`requirements*.txt`, `environment.yml`), the package metadata only bounds it
(`pyproject.toml` dependencies, `setup.cfg` and `setup.py` `install_requires`). The first
source that pins torch decides; a pin that cannot be read is a warning and is skipped.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_VERSION = re.compile(r"^\s*(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?(?:[.+-]?[A-Za-z0-9.+]*)?\s*$")
# `torch==1.7.1`, `torch >=1.4, <1.10`, `torch[extra]~=1.12`, `pytorch=1.7` (conda), `torch; python_version<"3.9"`.
_REQUIREMENT = re.compile(r"^\s*(?:py)?torch(?:\[[^\]]*\])?\s*(?P<spec>(?:[=<>!~]=?=?|===)[^;#]*)?(?:;.*)?$", re.IGNORECASE)
_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class TorchTarget:
    """The newest torch the project admits: `upper` (a version tuple) and whether it is
    included; None when nothing bounds it (a current torch)."""

    upper: tuple | None = None
    inclusive: bool = True
    source: str = ""  # where it came from, for --verbose: "requirements.txt: torch==1.7.1"
    warnings: tuple = field(default=(), compare=False)
    lower: tuple | None = None  # the oldest torch it admits, when a pin says

    def admits_only_from(self, version: tuple) -> bool:
        """Is every admitted torch `version` or newer (an API that arrived then is there)?
        Without a pin saying so, no."""
        return self.lower is not None and _padded(self.lower) >= _padded(version)

    def before(self, version: tuple) -> bool:
        """Is every admitted torch older than `version`?"""
        if self.upper is None:
            return False
        upper = _padded(self.upper)
        wanted = _padded(version)
        return upper < wanted or (upper == wanted and not self.inclusive)

    def describe(self) -> str:
        if self.upper is None:
            return f"a current torch ({self.source})" if self.source else "a current torch"
        bound = ".".join(str(p) for p in self.upper)
        return f"torch {'<=' if self.inclusive else '<'} {bound} ({self.source})"


def _padded(version: tuple) -> tuple:
    return tuple(version) + (0,) * (3 - len(version))


def parse_version(text: str) -> tuple | None:
    """`1.13` -> (1, 13); `2.0.1+cu118` -> (2, 0, 1); None if it is no version."""
    match = _VERSION.match(text)
    if not match or "*" in text:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def from_setting(value: str) -> TorchTarget:
    version = parse_version(value)
    if version is None:
        raise ValueError(f"`target-torch` must be a version such as \"1.13\" or \"2.1.0\", not {value!r}")
    return TorchTarget(version, True, "target-torch setting", lower=version)


def target_of_spec(spec: str, source: str) -> TorchTarget | None:
    """The upper bound of a requirement's specifiers; a TorchTarget without bound for a
    spec that only bounds from below, None if the spec cannot be read."""
    spec = spec.strip()
    if not spec:
        return TorchTarget(None, True, f"{source}: torch, unpinned")
    upper, inclusive, lower = None, True, None
    for clause in spec.split(","):
        clause = clause.strip()
        match = re.match(r"^(===|==|<=|>=|~=|!=|<|>|=)\s*(.+)$", clause)
        if not match:
            return None
        operator, text = match.groups()
        text = text.strip()
        if operator in (">=", ">", "!="):
            version = parse_version(text.replace(".*", ""))
            if version is None:
                return None
            if operator != "!=" and (lower is None or _padded(version) > _padded(lower)):
                lower = version
            continue
        if operator in ("==", "===", "=") and text.endswith(".*"):
            base = parse_version(text[:-2])
            if base is None:
                return None
            bound, bound_inclusive = base[:-1] + (base[-1] + 1,), False  # ==1.* -> <2
        else:
            version = parse_version(text)
            if version is None:
                return None
            if operator == "~=":
                if len(version) < 2:
                    return None
                bound, bound_inclusive = version[:-2] + (version[-2] + 1,), False  # ~=1.12 -> <2, ~=1.12.1 -> <1.13
                lower = version if lower is None or _padded(version) > _padded(lower) else lower
            else:
                if operator in ("==", "===", "="):
                    lower = version if lower is None or _padded(version) > _padded(lower) else lower
                bound, bound_inclusive = version, operator != "<"
        if upper is None or _padded(bound) < _padded(upper) or (_padded(bound) == _padded(upper) and not bound_inclusive):
            upper, inclusive = bound, bound_inclusive
    return TorchTarget(upper, inclusive, f"{source}: torch{spec}", lower=lower)


def resolve(root: Path | None, setting: str | None = None) -> TorchTarget:
    """The project's target: the setting, else its first pin, else a current torch."""
    if setting:
        return from_setting(setting)
    warnings = []
    if root is not None:
        for name, requirements in _pinned_requirements(root, warnings):
            for line in requirements:
                match = _REQUIREMENT.match(line)
                if match is None:
                    continue
                spec = match.group("spec") or ""
                if not spec.strip():
                    continue  # a bare `torch` pins nothing: the next source may
                target = target_of_spec(spec, name)
                if target is None:
                    warnings.append(f"{name}: cannot read the torch pin `{line.strip()}`; ignored")
                    continue
                return TorchTarget(target.upper, target.inclusive, target.source, tuple(warnings), target.lower)
    return TorchTarget(None, True, "no torch pin found: assumed current; set `target-torch` in [tool.torchlint]", tuple(warnings))


def _pinned_requirements(root: Path, warnings: list):
    """(source name, requirement lines) of each pin file, in the order they decide."""
    requirement_files = sorted(root.glob("requirements*.txt"), key=lambda p: (p.name != "requirements.txt", p.name))
    requirement_files += sorted((root / "requirements").glob("*.txt")) if (root / "requirements").is_dir() else []
    for path in requirement_files:
        text = _read(path, warnings)
        if text is not None:
            yield path.relative_to(root).as_posix(), [line.split(" #")[0] for line in text.splitlines()]
    for name in ("environment.yml", "environment.yaml"):
        text = _read(root / name, warnings)
        if text is not None:
            # `- pytorch=1.7.1`, `- torch==1.13` under pip: YAML list items, read as lines.
            yield name, [re.sub(r"^\s*-\s*", "", line).strip().strip("'\"") for line in text.splitlines() if line.strip().startswith("-")]
    text = _read(root / "pyproject.toml", warnings)
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            warnings.append(f"pyproject.toml: cannot read the dependencies ({error}); ignored")
        else:
            dependencies = data.get("project", {}).get("dependencies", [])
            if isinstance(dependencies, list):
                yield "pyproject.toml", [d for d in dependencies if isinstance(d, str)]
            poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
            if isinstance(poetry, dict) and isinstance(poetry.get("torch"), str):
                yield "pyproject.toml", [_poetry_requirement(poetry["torch"])]
    text = _read(root / "setup.cfg", warnings)
    if text is not None:
        yield "setup.cfg", _setup_cfg_requirements(text)
    text = _read(root / "setup.py", warnings)
    if text is not None:
        yield "setup.py", _setup_py_requirements(text)


def _read(path: Path, warnings: list) -> str | None:
    try:
        if not path.is_file():
            return None
        data = path.read_bytes()[:_MAX_BYTES]
    except OSError as error:
        warnings.append(f"{path.name}: cannot read ({error.strerror or error}); ignored")
        return None
    return data.decode("utf-8", "replace")


def _poetry_requirement(constraint: str) -> str:
    constraint = constraint.strip()
    if constraint.startswith("^"):  # ^1.12 -> >=1.12,<2
        version = parse_version(constraint[1:])
        if version is not None and version[0] > 0:
            return f"torch>={constraint[1:]},<{version[0] + 1}"
    return f"torch{constraint if constraint[:1] in '<>=!~' else '==' + constraint}"


def _setup_cfg_requirements(text: str) -> list:
    lines, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\s*install_requires\s*=", line):
            inside = True
            rest = line.split("=", 1)[1].strip()
            if rest:
                lines.append(rest)
            continue
        if inside:
            if line[:1].isspace() and line.strip():
                lines.append(line.strip())
            elif line.strip():
                inside = False
    return lines


def _setup_py_requirements(text: str) -> list:
    """String literals of `install_requires=[...]` (and of a list it names) in setup.py,
    read without running it."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lists = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    lists[target.id] = node.value
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            value = lists.get(node.value.id) if isinstance(node.value, ast.Name) else node.value
            if isinstance(value, (ast.List, ast.Tuple)):
                found += [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return found
