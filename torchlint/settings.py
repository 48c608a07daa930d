"""Settings: `[tool.torchlint]` in pyproject.toml, merged with the command line.

Every key is validated: an unknown key or a value of the wrong type is a ConfigError
(exit 2), never silently ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.rules import all_rules


class ConfigError(Exception):
    """A problem with the configuration or the command line: exit code 2."""


@dataclass(frozen=True)
class RuleOptions:
    small_batch_threshold: int = 16
    # `target-torch`: the torch release the project targets; None reads the project's pins.
    target_torch: str | None = None
    # `docs-url`: where the rule pages are published, with `{code}` and `{name}`; None: the
    # pages shipped with the package.
    docs_url: str | None = None


@dataclass
class Settings:
    select: list[str] | None = None  # None: the rules enabled by default
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] | None = None  # None: the default excludes
    extend_exclude: list[str] = field(default_factory=list)
    respect_gitignore: bool = True
    rule_options: RuleOptions = field(default_factory=RuleOptions)
    # Where the configuration came from: relative patterns are anchored here.
    root: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None


_LIST_KEYS = ("select", "extend-select", "ignore", "exclude", "extend-exclude")
_RULE_TABLES = {"small-batch-size": {"threshold": ("small_batch_threshold", int)}}


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.torchlint] table, from `start` upwards."""
    for directory in [start, *start.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise ConfigError(f"{candidate}: cannot read: {error}") from None
            if "torchlint" in data.get("tool", {}):
                return candidate
    return None


def load_settings(config_path: Path | None) -> Settings:
    if config_path is None:
        return Settings()
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{config_path}: cannot read: {error}") from None
    # A dedicated torchlint.toml has the keys at top level; pyproject.toml under [tool.torchlint].
    if config_path.name == "pyproject.toml":
        table = data.get("tool", {}).get("torchlint", {})
    else:
        table = data.get("tool", {}).get("torchlint", data)
    return settings_from_table(table, config_path)


def settings_from_table(table: dict, config_path: Path) -> Settings:
    where = f"{config_path} [tool.torchlint]"
    settings = Settings(root=config_path.parent.resolve(), config_path=config_path)
    options: dict = {}
    for key, value in table.items():
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: `{key}` must be a list of strings")
            setattr(settings, key.replace("-", "_"), list(value))
        elif key == "per-file-ignores":
            if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
            ):
                raise ConfigError(f"{where}: `per-file-ignores` must map glob patterns to lists of codes")
            settings.per_file_ignores = {k: list(v) for k, v in value.items()}
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: `respect-gitignore` must be true or false")
            settings.respect_gitignore = value
        elif key == "target-torch":
            from torchlint.project.torch_target import from_setting

            if not isinstance(value, str):
                raise ConfigError(f"{where}: `target-torch` must be a version string such as \"1.13\"")
            try:
                from_setting(value)
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
            options["target_torch"] = value
        elif key == "docs-url":
            if not isinstance(value, str) or "{code}" not in value and "{name}" not in value:
                raise ConfigError(f"{where}: `docs-url` must be a string with {{code}} or {{name}}, e.g. \"https://docs.example.org/rules/{{code}}.html\"")
            options["docs_url"] = value
        elif key in _RULE_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: `{key}` must be a table")
            for option, option_value in value.items():
                spec = _RULE_TABLES[key].get(option)
                if spec is None:
                    known = ", ".join(_RULE_TABLES[key])
                    raise ConfigError(f"{where}.{key}: unknown option `{option}` (known: {known})")
                attribute, kind = spec
                if type(option_value) is not kind or option_value <= 0:
                    raise ConfigError(f"{where}.{key}: `{option}` must be a positive {kind.__name__}")
                options[attribute] = option_value
        else:
            known = ", ".join([*_LIST_KEYS, "per-file-ignores", "respect-gitignore", "target-torch", "docs-url", *_RULE_TABLES])
            raise ConfigError(f"{where}: unknown key `{key}` (known keys: {known})")
    settings.rule_options = RuleOptions(**options)
    for key in ("select", "extend_select", "ignore"):
        value = getattr(settings, key)
        if value:
            resolve_selectors(value, f"{where} `{key.replace('_', '-')}`")
    for codes in settings.per_file_ignores.values():
        resolve_selectors(codes, f"{where} `per-file-ignores`")
    return settings


def resolve_selectors(selectors: list[str], where: str = "--select") -> set[str]:
    """Codes, prefixes (`TL1`), rule names and ALL, to a set of rule codes."""
    codes: set[str] = set()
    rules = all_rules()
    for raw in selectors:
        selector = raw.strip()
        if not selector:
            continue
        if selector.upper() == "ALL":
            codes |= {rule.code for rule in rules}
            continue
        matched = {
            rule.code for rule in rules if rule.code.startswith(selector.upper()) or rule.name == selector
        }
        if not matched:
            raise ConfigError(f"{where}: unknown rule selector `{raw}`")
        codes |= matched
    return codes


def enabled_codes(settings: Settings) -> set[str]:
    if settings.select is None:
        codes = {rule.code for rule in all_rules() if rule.enabled_by_default}
    else:
        codes = resolve_selectors(settings.select)
    codes |= resolve_selectors(settings.extend_select, "extend-select")
    codes -= resolve_selectors(settings.ignore, "ignore")
    return codes
