"""`torchlint server`: a language server over stdio, for VS Code, Neovim, Helix and any
LSP client.

Findings are published when a document is opened, changed (debounced) or saved. Each
project root keeps its files as read from disk, the open documents' unsaved text over
them, and the summaries it has computed by content hash: a change to one file summarizes
that file again and nothing else, and every open document of the project is checked
again, so that editing `data.py` updates the findings in `train.py`. Settings come from
the nearest `pyproject.toml` with a `[tool.torchlint]` table, read again whenever one
changes.

Code actions: each finding's fix as a quick fix (safe ones preferred, unsafe ones
labelled), "fix all safe fixes" for the file, and a `# noqa: TLnnn` suppression. An
error while checking one document is logged to the client and the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace.position_codec import ServerTextPosition

from torchlint import __version__
from torchlint.engine import Diagnostic

DEBOUNCE_SECONDS = 0.3  # after the last keystroke
SOURCE = "torchlint"
FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.torchlint"
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.IGNORECASE)

logger = logging.getLogger(__name__)


@dataclass
class ProjectState:
    """One project root: its files on disk (read once, then per change), and summaries
    by content hash."""

    root: Path
    files: dict = field(default_factory=dict)  # relpath -> SourceFile, as on disk
    walked: bool = False
    summaries: dict = field(default_factory=dict)  # content hash -> ModuleSummary

    def summarize(self, missing, cache=None):
        from torchlint.project.summary import summarize

        out = []
        for source in missing:
            summary = self.summaries.get(source.hash)
            if summary is None:
                try:
                    summary = summarize(source.decode())
                except Exception:  # undecodable: the file gets no summary, as in `check`
                    continue
                self.summaries[source.hash] = summary
            out.append((source.relpath, summary))
        return out


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("torchlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.projects: dict[Path, ProjectState] = {}
        self.runs: dict[tuple, object] = {}  # settings signature -> run.Run
        self.pending: dict[str, asyncio.Task] = {}
        self.results: dict[str, tuple[int | None, list[Diagnostic]]] = {}  # uri -> (version, diagnostics)

    # -- settings --------------------------------------------------------------------

    def run_for(self, path: Path):
        """The settings for a file: those of the nearest configuration, read again when
        any configuration file above it changes (by its modification time and size)."""
        from torchlint.run import Run
        from torchlint.settings import enabled_codes, find_config, load_settings

        directory = path.parent
        signature = [str(directory)]
        for candidate_dir in [directory, *directory.parents]:
            candidate = candidate_dir / "pyproject.toml"
            try:
                stat = candidate.stat()
            except OSError:
                continue
            signature.append((str(candidate), stat.st_mtime_ns, stat.st_size))
        key = tuple(signature)
        if key not in self.runs:
            if len(self.runs) > 64:
                self.runs.clear()
            settings = load_settings(find_config(directory))
            self.runs[key] = Run(settings, enabled_codes(settings))
        return self.runs[key]

    # -- checking --------------------------------------------------------------------

    def project_for(self, root: Path, run) -> ProjectState:
        state = self.projects.get(root)
        if state is None:
            state = self.projects[root] = ProjectState(root)
        if not state.walked:
            from torchlint.project.workspace import _relpath
            from torchlint.run import walk_project
            from torchlint.sources import SourceFile, read_regular

            for path in walk_project(run.file_filter)(root):
                try:
                    state.files[_relpath(path, root)] = SourceFile(path, _relpath(path, root), read_regular(path))
                except OSError:
                    continue
            state.walked = True
        return state

    def refresh_from_disk(self, path: Path) -> None:
        """A file changed on disk (saved, created, deleted): read it again where a project
        holds it."""
        from torchlint.project.workspace import _relpath
        from torchlint.sources import SourceFile, read_regular

        for root, state in self.projects.items():
            if root != path and root not in path.parents:
                continue
            relpath = _relpath(path, root)
            try:
                state.files[relpath] = SourceFile(path, relpath, read_regular(path))
            except OSError:
                state.files.pop(relpath, None)

    def check_document(self, uri: str, text: str | None = None) -> list[Diagnostic] | None:
        """Findings for an open document (its unsaved text, or `text`, in the project
        around it), or None when it is not a file torchlint checks."""
        from torchlint.project.layout import find_root
        from torchlint.project.workspace import Workspace, _relpath, build_project
        from torchlint.run import lint_target, pinned_torch
        from torchlint.semantic.context import Semantics
        from torchlint.sources import SourceFile

        path = _path_of(uri)
        if path is None or not path.name.endswith((".py", ".pyi")):
            return None
        run = self.run_for(path)
        if run.file_filter.excluded(path, False):
            return []
        root = find_root(path)
        state = self.project_for(root, run)
        files = dict(state.files)
        for document in list(self.workspace.text_documents.values()):
            other = _path_of(document.uri)
            if other is not None and (root in other.parents) and other.name.endswith((".py", ".pyi")):
                other_relpath = _relpath(other, root)
                content = text if (text is not None and document.uri == uri) else document.source
                files[other_relpath] = SourceFile(other, other_relpath, content.encode("utf-8", "surrogatepass"), content)
        relpath = _relpath(path, root)
        display = str(path)
        workspace = Workspace(root, files, [relpath], {relpath: display})
        semantics = Semantics(build_project(workspace, state.summarize), pinned_torch(workspace, run))
        return lint_target(workspace, semantics, relpath, display, run.rules_for(display), build_edits=True)

    def publish(self, uri: str) -> None:
        document = self.workspace.get_text_document(uri)
        try:
            diagnostics = self.check_document(uri)
        except Exception as error:  # one document's failure must not stop the server
            self.window_log_message(types.LogMessageParams(
                types.MessageType.Error,
                f"torchlint: checking {uri} failed: {type(error).__name__}: {error}\n{traceback.format_exc()}"))
            return
        if diagnostics is None:
            return
        self.results[uri] = (document.version, diagnostics)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=document.version,
            diagnostics=[self.to_lsp(document, d) for d in diagnostics if d.kind != "internal-error"],
        ))
        for d in diagnostics:
            if d.kind == "internal-error":
                self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"torchlint: {d.message}"))

    def publish_project_of(self, uri: str) -> None:
        """The document, then every other open document: what it defines may change
        their findings."""
        self.publish(uri)
        for other in list(self.workspace.text_documents):
            if other != uri:
                self.publish(other)

    def schedule(self, uri: str, version: int | None) -> None:
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()

        async def later() -> None:
            await asyncio.sleep(DEBOUNCE_SECONDS)
            document = self.workspace.text_documents.get(uri)
            if document is not None and document.version == version:
                self.publish_project_of(uri)

        self.pending[uri] = asyncio.ensure_future(later())

    # -- conversions -----------------------------------------------------------------

    def to_lsp(self, document, d: Diagnostic) -> types.Diagnostic:
        return types.Diagnostic(
            range=self.range_of(document, d.row, d.column, d.end_row, d.end_column),
            message=d.message,
            severity=types.DiagnosticSeverity.Warning if d.kind == "finding" else types.DiagnosticSeverity.Error,
            code=d.code or d.name,
            code_description=types.CodeDescription(href=d.url) if d.url else None,
            source=SOURCE,
            data={"fix": d.fix, "row": d.row} if d.fix else {"row": d.row},
        )

    def range_of(self, document, row: int, column: int, end_row: int, end_column: int) -> types.Range:
        start = document.position_to_client_units(ServerTextPosition(row - 1, column - 1))
        end = document.position_to_client_units(ServerTextPosition(end_row - 1, end_column - 1))
        return types.Range(start=start, end=end)

    def edits_of(self, document, fix: dict) -> list[types.TextEdit]:
        return [
            types.TextEdit(
                range=self.range_of(document, e["location"]["row"], e["location"]["column"],
                                    e["end_location"]["row"], e["end_location"]["column"]),
                new_text=e["content"],
            )
            for e in fix["edits"]
        ]

    # -- code actions ----------------------------------------------------------------

    def current(self, uri: str) -> list[Diagnostic]:
        """The findings of the document as it is now (checked again if it changed since)."""
        document = self.workspace.get_text_document(uri)
        version, diagnostics = self.results.get(uri, (None, None))
        if diagnostics is None or version != document.version:
            diagnostics = self.check_document(uri) or []
            self.results[uri] = (document.version, diagnostics)
        return diagnostics

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        from torchlint.rules.base import SAFE, UNSAFE

        uri = params.text_document.uri
        document = self.workspace.get_text_document(uri)
        wanted = params.context.only
        findings = [d for d in self.current(uri) if d.kind == "finding"]
        first, last = params.range.start.line + 1, params.range.end.line + 1
        actions: list[types.CodeAction] = []
        for d in findings:
            if d.end_row < first or d.row > last:
                continue
            diagnostic = self.to_lsp(document, d)
            fix = d.fix
            if _wants(wanted, types.CodeActionKind.QuickFix):
                if fix and fix.get("edits") and fix["applicability"] in (SAFE, UNSAFE):
                    label = "" if fix["applicability"] == SAFE else " (unsafe: may change results)"
                    actions.append(types.CodeAction(
                        title=f"{d.code}: {fix['message']}{label}",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        is_preferred=fix["applicability"] == SAFE,
                        edit=types.WorkspaceEdit(changes={uri: self.edits_of(document, fix)}),
                    ))
                actions.append(types.CodeAction(
                    title=f"{d.code}: Suppress with `# noqa: {d.code}`",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=types.WorkspaceEdit(changes={uri: [self.noqa_edit(document, d)]}),
                ))
        if _wants(wanted, FIX_ALL_KIND) and any(f.fix and f.fix.get("edits") and f.fix["applicability"] == SAFE for f in findings):
            fixed = self.fix_all(uri)
            if fixed is not None and fixed != document.source:
                lines = document.lines
                end = types.Position(line=len(lines), character=0)
                actions.append(types.CodeAction(
                    title="torchlint: Fix all safe fixes",
                    kind=FIX_ALL_KIND,
                    edit=types.WorkspaceEdit(changes={uri: [
                        types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=fixed),
                    ]}),
                ))
        return actions

    def noqa_edit(self, document, d: Diagnostic) -> types.TextEdit:
        """`  # noqa: CODE` at the end of the finding's first line, or the code added to
        the `# noqa:` already there."""
        line = document.lines[d.row - 1].rstrip("\r\n")
        match = _NOQA.search(line)
        if match and match.group("codes"):
            at, text = match.end("codes"), f", {d.code}"
        elif match:
            at, text = match.end(), ""  # a bare `# noqa` already suppresses everything
        else:
            at, text = len(line), f"  # noqa: {d.code}"
        position = document.position_to_client_units(ServerTextPosition(d.row - 1, at))
        return types.TextEdit(range=types.Range(start=position, end=position), new_text=text)

    def fix_all(self, uri: str) -> str | None:
        """The document with every safe fix applied, in passes, as `torchlint fix` does."""
        from torchlint.fixes.apply import MAX_PASSES, apply_fixes, applicable, compile_problem

        document = self.workspace.get_text_document(uri)
        original = text = document.source
        for _ in range(MAX_PASSES):
            diagnostics = self.check_document(uri, text) or []
            candidates = [d for d in diagnostics if applicable(d, False)]
            if not candidates:
                break
            updated, _ = apply_fixes(text, candidates)
            if updated == text or compile_problem(updated, uri) is not None:
                break
            text = updated
        return text if text != original else None


def _wants(only, kind) -> bool:
    kind = kind.value if hasattr(kind, "value") else kind
    return not only or any(kind == k or kind.startswith(f"{k}.") for k in (o.value if hasattr(o, "value") else o for o in only))


def _path_of(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(os.path.abspath(unquote(parsed.path)))


def build_server() -> TorchlintServer:
    server = TorchlintServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TorchlintServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.publish_project_of(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TorchlintServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TorchlintServer, params: types.DidSaveTextDocumentParams) -> None:
        path = _path_of(params.text_document.uri)
        if path is not None:
            ls.refresh_from_disk(path)
        ls.publish_project_of(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TorchlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.results.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        path = _path_of(uri)
        if path is not None:
            ls.refresh_from_disk(path)  # its unsaved text is gone: the disk's is what counts

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: TorchlintServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            path = _path_of(change.uri)
            if path is not None:
                ls.refresh_from_disk(path)
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=False),
    )
    def code_action(ls: TorchlintServer, params: types.CodeActionParams):
        try:
            return ls.code_actions(params)
        except Exception as error:
            ls.window_log_message(types.LogMessageParams(
                types.MessageType.Error, f"torchlint: code actions failed: {type(error).__name__}: {error}"))
            return []

    return server


def serve() -> None:
    logging.basicConfig(level=logging.WARNING, format="torchlint server: %(message)s")
    build_server().start_io()
