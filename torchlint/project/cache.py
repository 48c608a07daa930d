"""`.torchlint_cache/`: summaries by content hash, results by project state.

Everything is JSON (never pickle), written atomically, and checked on the way in: an
entry whose embedded key is not the one asked for, or that does not parse, is ignored
(and overwritten), never trusted. The directory carries its own `.gitignore`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from torchlint import __version__
from torchlint.project.summary import SUMMARY_VERSION
from torchlint.sources import replace_atomically

CACHE_DIR = ".torchlint_cache"


def digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class Cache:
    def __init__(self, root: Path) -> None:
        self.base = root / CACHE_DIR
        self.directory = self.base / f"{__version__}-s{SUMMARY_VERSION}"
        self.writable = True

    # -- entries -------------------------------------------------------------------------

    def _path(self, kind: str, key: str) -> Path:
        return self.directory / kind / key[:2] / f"{key}.json"

    def has(self, kind: str, key: str) -> bool:
        return self._path(kind, key).is_file()

    def get(self, kind: str, key: str):
        try:
            text = self._path(kind, key).read_text(encoding="utf-8")
            entry = json.loads(text)
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or "data" not in entry:
            return None  # foreign or damaged: ignored
        return entry["data"]

    def put(self, kind: str, key: str, data) -> None:
        if not self.writable:
            return
        path = self._path(kind, key)
        try:
            self._prepare()
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(path, lambda stream: json.dump({"key": key, "data": data}, stream, separators=(",", ":")),
                               prefix=".", suffix=".tmp", encoding="utf-8")
        except OSError:
            self.writable = False  # a read-only project: run without writing a cache

    def _prepare(self) -> None:
        if self.base.is_dir():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / ".gitignore").write_text("# Created by torchlint automatically.\n*\n", encoding="utf-8")
        (self.base / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by torchlint.\n",
            encoding="utf-8",
        )
