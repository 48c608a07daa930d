"""Jupyter notebooks (`.ipynb`) as Python modules.

A notebook is checked as one module: its Python code cells in order, each preceded by a
marker comment line, with IPython syntax (line and cell magics, shell escapes, `?` help)
replaced line for line by a `pass` placeholder that names the line it stands for. Rules
see ordinary Python; positions are mapped back to (cell, row); a fix is written back into
the `source` of the cells it changes, and nowhere else in the file: outputs, execution
counts, ids, metadata, indentation and key order stay byte for byte as they were.

Cells are numbered from 1 over all cells, markdown included, as ruff numbers them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from json.decoder import scanstring

from torchlint.project.statements import LineScanner

NOTEBOOK_SUFFIX = ".ipynb"

# Cell magics whose body is Python run by the kernel (the same set ruff checks); any other
# (`%%bash`, `%%writefile`, `%%html`...) makes the cell something else, and it is skipped.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"}

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_HELP = re.compile(r"\s*(\?\??[\w.*\[\]()]+\??\??|[\w.*\[\]()]+\?\??)\s*")
_ASSIGN_MAGIC = re.compile(r"\s*[\w.\[\], ]+=\s*[%!]")


class NotebookError(ValueError):
    """Not a notebook that can be checked (not JSON, not nbformat 4)."""


def is_notebook(name: str) -> bool:
    return name.endswith(NOTEBOOK_SUFFIX)


@dataclass
class Cell:
    number: int  # 1-based over all cells
    source: str  # the cell's text, joined
    as_list: bool  # stored as a list of lines (the usual form) or one string
    span: tuple[int, int] | None  # where its `source` value lies in the file's text (None: no `source`)
    python: bool  # a code cell the kernel runs as Python


@dataclass
class Notebook:
    raw: str  # the file's text
    cells: list[Cell]
    text: str  # the Python module the rules see
    nonce: str  # makes markers and placeholders unmistakable for user code

    # -- reading ---------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: str) -> Notebook:
        document, cells = _read_document(raw)
        nonce = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        notebook = cls(raw, cells, "", nonce)
        if _is_python(document):
            notebook.text = "".join(notebook._cell_module(cell) for cell in cells if cell.python)
        return notebook

    def marker(self, number: int) -> str:
        return f"# torchlint-cell {self.nonce} {number}"

    def _cell_module(self, cell: Cell) -> str:
        lines = cell.source.splitlines(keepends=True)
        out = [self.marker(cell.number) + "\n"]
        for index, (line, ipython) in enumerate(zip(lines, ipython_lines(lines))):
            if not ipython:
                out.append(line if line.endswith(("\n", "\r")) else line + "\n")
                continue
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            ending = line[len(line.rstrip("\r\n")):] or "\n"
            timed = _timed_statement(line)
            if timed is not None:
                # `%time x = train()` runs its statement: the rules see it, shifted left.
                offset, statement = timed
                out.append(f"{indent}{statement}  {self._tag(cell.number, index)}+{offset}{ending}")
            else:
                out.append(f"{indent}pass  {self._tag(cell.number, index)}{ending}")
        return "".join(out)

    def _tag(self, number: int, index: int) -> str:
        return f"# torchlint-ipython {self.nonce} {number}.{index}"

    # -- positions -------------------------------------------------------------------

    def layout(self, text: str) -> tuple[list[tuple[int, int]], dict[int, int]]:
        """For the module `text` (as fixed so far): (row of each cell's marker, cell
        number) in order, and the rows no fix may touch (markers, IPython lines), each
        with how far its code lies left of where the cell has it."""
        markers: list[tuple[int, int]] = []
        protected: dict[int, int] = {}
        if self.nonce not in text:
            return markers, protected
        marker_prefix = f"# torchlint-cell {self.nonce} "
        placeholder_tag = f"# torchlint-ipython {self.nonce} "
        for row, line in enumerate(text.splitlines(), start=1):
            if line.startswith(marker_prefix):
                markers.append((row, int(line[len(marker_prefix):])))
                protected[row] = 0
            elif placeholder_tag in line:
                where = line.rsplit(placeholder_tag, 1)[1].split()[0]
                protected[row] = int(where.split("+")[1]) if "+" in where else 0
        return markers, protected

    def locate(self, markers: list[tuple[int, int]], row: int) -> tuple[int | None, int]:
        """(cell number, row within the cell) of a row of the module; the cell is None
        before the first marker."""
        cell, start = None, 0
        for marker_row, number in markers:
            if marker_row >= row:
                break
            cell, start = number, marker_row
        return cell, max(1, row - start)

    def editable(self, layout: tuple, diagnostic) -> bool:
        """Whether the fix of `diagnostic` stays inside one cell's code and leaves every
        marker and IPython line as it is; `layout` is `self.layout` of the module text
        the fix was made for (read once for all its findings)."""
        fix = diagnostic.fix
        if not fix or not fix.get("edits"):
            return True
        markers, protected = layout
        cells = set()
        for edit in fix["edits"]:
            start, end = edit["location"], edit["end_location"]
            if (start["row"], start["column"]) == (end["row"], end["column"]) and start["column"] == 1:
                # An insertion before a line: it joins the cell that line belongs to, or,
                # before a marker, the cell above.
                cells.add(self.locate(markers, start["row"])[0])
                continue
            last = end["row"] - 1 if end["column"] == 1 and end["row"] > start["row"] else end["row"]
            rows = range(start["row"], last + 1)
            if any(row in protected for row in rows):
                return False
            cells.update(self.locate(markers, row)[0] for row in (start["row"], last))
        return len(cells) == 1 and None not in cells

    def to_cells(self, text: str, diagnostics: list) -> list:
        """Diagnostics of the module `text` in cell coordinates (`cell` set, rows within
        the cell); a fix that cannot be written into one cell becomes a suggestion."""
        layout = self.layout(text)
        markers, shifted = layout
        out = []
        for d in diagnostics:
            if d.kind not in ("finding", "syntax-error"):
                out.append(d)
                continue
            cell, row = self.locate(markers, d.row)
            end_cell, end_row = self.locate(markers, d.end_row)
            column = d.column + shifted.get(d.row, 0)
            if end_cell != cell:
                end_row, end_column = row, column
            else:
                end_column = d.end_column + shifted.get(d.end_row, 0)
            fix = d.fix
            if fix and fix.get("edits"):
                if self.editable(layout, d):
                    fix = {**fix, "edits": [self._edit_to_cell(markers, e) for e in fix["edits"]]}
                else:
                    fix = {**fix, "applicability": "display-only", "edits": []}
            out.append(replace(d, cell=cell or 1, row=row, column=column, end_row=end_row, end_column=end_column, fix=fix))
        return out

    def _edit_to_cell(self, markers, edit: dict) -> dict:
        _, row = self.locate(markers, edit["location"]["row"])
        _, end_row = self.locate(markers, edit["end_location"]["row"])
        return {**edit, "location": {**edit["location"], "row": row}, "end_location": {**edit["end_location"], "row": end_row}}

    # -- writing ---------------------------------------------------------------------

    def cell_sources(self, text: str) -> dict[int, str]:
        """The source of every Python cell in the module `text`, IPython lines restored.
        Raises NotebookError when a marker or placeholder was changed."""
        markers, _ = self.layout(text)
        numbers = [n for _, n in markers]
        expected = [c.number for c in self.cells if c.python]
        if numbers != expected:
            raise NotebookError("a fix moved a cell boundary")
        lines = text.splitlines(keepends=True)
        by_number = {c.number: c for c in self.cells}
        result: dict[int, str] = {}
        bounds = [row for row, _ in markers] + [len(lines) + 1]
        for (row, number), end in zip(markers, bounds[1:]):
            cell = by_number[number]
            body = lines[row : end - 1]
            result[number] = self._restore(cell, body)
        return result

    def _restore(self, cell: Cell, body: list[str]) -> str:
        original = cell.source.splitlines(keepends=True)
        tag = f"# torchlint-ipython {self.nonce} {cell.number}."
        restored = []
        seen = set()
        for line in body:
            at = line.find(tag)
            if at < 0:
                restored.append(line)
                continue
            index = int(line[at + len(tag):].split()[0].split("+")[0])
            if index in seen or index >= len(original):
                raise NotebookError("a fix changed an IPython line")
            seen.add(index)
            restored.append(original[index] if original[index].endswith(("\n", "\r")) else original[index] + "\n")
        wanted = {i for i, flag in enumerate(ipython_lines(original)) if flag}
        if seen != wanted:
            raise NotebookError("a fix changed an IPython line")
        text = "".join(restored)
        if not cell.source.endswith(("\n", "\r")) and text.endswith("\n"):
            text = text[:-1]  # the newline the module added after the cell's last line
        return text

    def changed_cells(self, text: str) -> list[tuple[Cell, str]]:
        """(cell, new source) for each cell the module `text` changes. Raises
        NotebookError when a fix changed a marker or an IPython line."""
        sources = self.cell_sources(text)
        return [(c, sources[c.number]) for c in self.cells if c.number in sources and sources[c.number] != c.source]

    def render(self, changed: list[tuple[Cell, str]]) -> str:
        """The file's text with the `changed_cells` rewritten: only their `source`
        values, in the shape and indentation the file uses."""
        raw = self.raw
        ascii_only = _escapes_non_ascii(raw)
        pieces = []
        last = 0
        for cell, new in changed:
            if cell.span is None:
                raise NotebookError(f"cell {cell.number} has no `source` to write into")
            start, end = cell.span
            pieces.append(raw[last:start])
            pieces.append(_render_source(raw, start, end, new, cell.as_list, ascii_only))
            last = end
        pieces.append(raw[last:])
        return "".join(pieces)

    # -- file positions (annotations) ------------------------------------------------

    def file_position(self, cell_number: int, row: int, column: int) -> tuple[int, int]:
        """(line, column), 1-based, in the notebook file of a position in a cell: where
        a pull request or code scanning shows the notebook's raw text."""
        cell = next((c for c in self.cells if c.number == cell_number), None)
        if cell is None or cell.span is None:
            return 1, 1
        raw = self.raw
        start, end = cell.span
        strings = _string_tokens(raw, start, end)
        if not strings:
            offset = start
        elif cell.as_list:
            token_start = strings[min(row - 1, len(strings) - 1)]
            offset = _raw_offset(raw, token_start, column - 1)
        else:
            lines = cell.source.splitlines(keepends=True)
            index = sum(len(line) for line in lines[: row - 1]) + column - 1
            offset = _raw_offset(raw, strings[0], index)
        line = raw.count("\n", 0, offset) + 1
        return line, offset - (raw.rfind("\n", 0, offset) + 1) + 1


def ipython_lines(lines: list[str]) -> list[bool]:
    """For each line of a Python cell: is it IPython syntax (a magic, a shell escape, help,
    or the continuation of one) that the module replaces by a placeholder?"""
    flags = []
    scanner = LineScanner()
    continued = False
    for line in lines:
        stripped = line.strip()
        if continued:
            flags.append(True)
            continued = stripped.endswith("\\")
            continue
        at_start = scanner.at_statement_start()
        if at_start and stripped and _is_ipython(stripped):
            flags.append(True)
            continued = stripped.endswith("\\")
            continue
        flags.append(False)
        scanner.feed(line)
    return flags


_TIMED = re.compile(r"[ \t]*%(?:time|prun)[ \t]+(?=[^ \t-])")


def _timed_statement(line: str) -> tuple[int, str] | None:
    """(how far right of the indentation the statement starts, the statement) for a
    `%time` or `%prun` line whose argument is one line of Python; else None."""
    match = _TIMED.match(line)
    body = line.rstrip("\r\n")
    if match is None or body.endswith("\\"):
        return None
    statement = body[match.end():]
    try:
        compile(statement, "<cell>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    indent = len(line) - len(line.lstrip(" \t"))
    return match.end() - indent, statement


def _is_ipython(stripped: str) -> bool:
    if stripped[0] in "%!":
        return True
    if stripped[0] == "?" or (stripped.endswith("?") and "#" not in stripped):
        return _HELP.fullmatch(stripped) is not None
    return _ASSIGN_MAGIC.match(stripped) is not None and "==" not in stripped.split("=", 1)[1][:2]


# -- the JSON document -----------------------------------------------------------------


def _read_document(raw: str) -> tuple[dict, list[Cell]]:
    """The document, and its cells with the position of each `source` value, read by a
    small parser over the text (everything else by the json module)."""
    decoder = json.JSONDecoder()
    try:
        document, cells = _parse_top(raw, decoder)
    except IndexError:
        raise NotebookError("not a valid notebook: the JSON ends too early") from None
    except (ValueError, TypeError) as error:
        raise NotebookError(f"not a valid notebook: {_json_message(error)}") from None
    if not isinstance(document.get("nbformat"), int) or document["nbformat"] < 4:
        raise NotebookError("not a notebook in nbformat 4 (convert it with `jupyter nbconvert --to notebook`)")
    return document, cells


def _json_message(error: Exception) -> str:
    return str(error).split(": line")[0] if isinstance(error, json.JSONDecodeError) else str(error) or "malformed"


def _skip(raw: str, i: int) -> int:
    return _WHITESPACE.match(raw, i).end()


def _parse_top(raw: str, decoder: json.JSONDecoder) -> tuple[dict, list[Cell]]:
    i = _skip(raw, 1 if raw.startswith("\ufeff") else 0)
    if raw[i : i + 1] != "{":
        raise ValueError("the file is not a JSON object")
    document: dict = {}
    cells: list[Cell] = []
    i = _skip(raw, i + 1)
    while raw[i] != "}":
        key, i = _key(raw, i)
        if key == "cells" and raw[i] == "[":
            value, i = _parse_cells(raw, i, decoder, cells)
        else:
            value, i = decoder.raw_decode(raw, i)
        document[key] = value
        i = _after_member(raw, i, "}")
    if raw[_skip(raw, i + 1) :]:
        raise ValueError("extra data after the notebook")
    return document, cells


def _key(raw: str, i: int) -> tuple[str, int]:
    if raw[i] != '"':
        raise ValueError(f"expected a key at character {i}")
    key, i = scanstring(raw, i + 1)
    i = _skip(raw, i)
    if raw[i] != ":":
        raise ValueError(f"expected ':' at character {i}")
    return key, _skip(raw, i + 1)


def _after_member(raw: str, i: int, closing: str) -> int:
    i = _skip(raw, i)
    if raw[i] == ",":
        return _skip(raw, i + 1)
    if raw[i] != closing:
        raise ValueError(f"expected ',' or '{closing}' at character {i}")
    return i


def _parse_cells(raw: str, i: int, decoder: json.JSONDecoder, cells: list[Cell]) -> tuple[list, int]:
    values = []
    i = _skip(raw, i + 1)
    while raw[i] != "]":
        if raw[i] != "{":
            raise ValueError(f"a cell is not an object (character {i})")
        cell: dict = {}
        span = None
        i = _skip(raw, i + 1)
        while raw[i] != "}":
            key, i = _key(raw, i)
            start = i
            value, i = decoder.raw_decode(raw, i)
            if key == "source":
                span = (start, i)
            cell[key] = value
            i = _after_member(raw, i, "}")
        i = _skip(raw, i + 1)
        values.append(cell)
        cells.append(_cell(cell, len(values), span))
        if raw[i] == ",":
            i = _skip(raw, i + 1)
        elif raw[i] != "]":
            raise ValueError(f"expected ',' or ']' at character {i}")
    return values, i + 1


def _cell(cell: dict, number: int, span: tuple[int, int]) -> Cell:
    source = cell.get("source", "")
    as_list = isinstance(source, list)
    if as_list:
        if not all(isinstance(line, str) for line in source):
            raise ValueError(f"cell {number}: source is not text")
        text = "".join(source)
    elif isinstance(source, str):
        text = source
    else:
        raise ValueError(f"cell {number}: source is not text")
    python = cell.get("cell_type") == "code" and _python_cell(text)
    return Cell(number, text, as_list, span, python)


def _python_cell(text: str) -> bool:
    first = text.lstrip("\n").split("\n", 1)[0].strip()
    if not first.startswith("%%"):
        return True
    name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
    return name in PYTHON_CELL_MAGICS


def _is_python(document: dict) -> bool:
    metadata = document.get("metadata") or {}
    language = (metadata.get("language_info") or {}).get("name") or (metadata.get("kernelspec") or {}).get("language")
    return not isinstance(language, str) or language.lower() == "python"


def _string_tokens(raw: str, start: int, end: int) -> list[int]:
    """Offsets of the opening quotes of the strings in raw[start:end] (a JSON string or a
    list of them)."""
    offsets = []
    i = start
    while i < end:
        if raw[i] == '"':
            offsets.append(i)
            _, i = scanstring(raw, i + 1)
        else:
            i += 1
    return offsets


def _raw_offset(raw: str, quote: int, index: int) -> int:
    """The offset in the file of character `index` of the JSON string opening at `quote`."""
    i = quote + 1
    for _ in range(max(0, index)):
        if raw[i] == '"':
            break
        if raw[i] == "\\":
            i += 6 if raw[i + 1] == "u" else 2
        else:
            i += 1
    return i


def _escapes_non_ascii(raw: str) -> bool:
    """Does the file write non-ASCII characters as \\u escapes (json's default) rather
    than as themselves (Jupyter's)?"""
    return not any(ord(c) > 127 for c in raw) and "\\u" in raw


def _render_source(raw: str, start: int, end: int, source: str, as_list: bool, ascii_only: bool) -> str:
    def dump(value) -> str:
        return json.dumps(value, ensure_ascii=ascii_only)

    if not as_list:
        return dump(source)
    lines = source.splitlines(keepends=True)
    original = raw[start:end]
    if not lines:
        return "[]"
    if "\n" not in original:  # a list on one line
        return "[" + ", ".join(dump(line) for line in lines) + "]"
    line_start = raw.rfind("\n", 0, start) + 1
    outer = raw[line_start : line_start + len(raw[line_start:]) - len(raw[line_start:].lstrip(" \t"))]
    first = _skip(raw, start + 1)
    inner = raw[raw.rfind("\n", 0, first) + 1 : first]
    return "[\n" + ",\n".join(inner + dump(line) for line in lines) + "\n" + outer + "]"
