"""Source files: reading them, decoding them, writing them back.

Reading never blocks (a FIFO named `*.py` is refused, not waited on). A Python file is
decoded as Python decodes it: a BOM, a PEP 263 coding declaration, else UTF-8. A
notebook is UTF-8 JSON whose code cells are checked as one module (see notebook). A
fixed file is written back atomically, in its own encoding, and never over a change
made since it was read.

Every failure a user can cause is a LintError with a one-line message.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from torchlint.notebook import Notebook, NotebookError, is_notebook

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


class LintError(Exception):
    """A file that cannot be checked: unreadable, undecodable."""


class NotRegularFile(OSError):
    """A FIFO, socket or device where a source file was expected: reading it could block."""


# -- reading -----------------------------------------------------------------------------


def read_regular(path: Path) -> bytes:
    """A regular file's bytes. Opened without blocking and checked before reading, so
    that a FIFO named `*.py` cannot hang the run."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"not a regular file ({_kind_of(mode)})")
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a device"


def read_error(path: Path, error: Exception) -> str:
    """The one-line message for a file that could not be read (or decoded)."""
    if isinstance(error, FileNotFoundError):
        return "broken symbolic link" if path.is_symlink() else "file not found"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, NotRegularFile):
        return str(error)
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    return str(error)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# -- decoding ----------------------------------------------------------------------------


def _declared_encoding(data: bytes) -> str:
    """The encoding Python reads these bytes in (raises SyntaxError for a bad declaration
    or undecodable first lines)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return encoding


def encoding_of(data: bytes) -> str:
    """The encoding to write a file back in: its declared one ("utf-8-sig" keeps a BOM),
    else UTF-8."""
    try:
        return _declared_encoding(data)
    except SyntaxError:
        return "utf-8"


def decode_source(data: bytes) -> str:
    """Honour a BOM and a PEP 263 coding declaration; otherwise the file must be UTF-8."""
    try:
        encoding = _declared_encoding(data)
    except SyntaxError as error:
        if _CODING.search(b"\n".join(data.splitlines()[:2])):
            raise LintError(f"bad encoding declaration: {error.msg}") from None
        encoding = "utf-8"  # undecodable bytes in the first lines; reported below
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding in ("utf-8", "utf-8-sig"):
            raise LintError(f"cannot decode byte {error.start}: not UTF-8 and no encoding declaration") from None
        raise LintError(f"cannot decode byte {error.start} as declared ({encoding})") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_notebook(data: bytes) -> Notebook:
    try:
        return Notebook.parse(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise LintError(f"cannot decode byte {error.start}: a notebook is UTF-8 JSON") from None
    except NotebookError as error:
        raise LintError(str(error)) from None
    except RecursionError:
        raise LintError("not a valid notebook: nested too deeply") from None


def decode_file(name: str, data: bytes) -> str:
    """The Python text of a file: its decoded source, or a notebook's cells as a module."""
    if is_notebook(name):
        return read_notebook(data).text
    return decode_source(data)


# -- the file ----------------------------------------------------------------------------


@dataclass
class SourceFile:
    """A file as read: its bytes, and what is derived from them on demand."""

    path: Path | None  # None for stdin
    relpath: str  # in its project
    data: bytes
    text: str | None = None  # decoded on demand (a notebook: its cells as a module)
    _hash: str | None = None
    _notebook: Notebook | None = None

    @property
    def is_notebook(self) -> bool:
        return is_notebook(self.relpath)

    def notebook(self) -> Notebook:
        """The parsed notebook (raises LintError when it is not one)."""
        if self._notebook is None:
            self._notebook = read_notebook(self.data)
        return self._notebook

    def decode(self) -> str:
        if self.text is None:
            self.text = self.notebook().text if self.is_notebook else decode_source(self.data)
        return self.text

    def scan_data(self) -> bytes:
        """What the textual import scan reads: the bytes, or a notebook's module."""
        if not self.is_notebook:
            return self.data
        try:
            return self.decode().encode("utf-8", "surrogatepass")
        except Exception:
            return b""

    @property
    def hash(self) -> str:
        """The content hash (computed when the cache needs it)."""
        if self._hash is None:
            self._hash = content_hash(self.data)
        return self._hash

    @property
    def encoding(self) -> str:
        """The encoding the file is written back in."""
        return encoding_of(self.data)


def read_file(path: Path) -> SourceFile:
    """A Python file, decoded (raises LintError with a one-line message)."""
    try:
        data = read_regular(path)
    except OSError as error:
        raise LintError(read_error(path, error)) from None
    return SourceFile(path, path.name, data, decode_source(data))


# -- writing -----------------------------------------------------------------------------


def write_file(source: SourceFile, text: str, expected: bytes | None = None) -> None:
    """Replace the file's content with `text`, atomically, keeping permissions, owner and
    group. The text keeps its own line endings (nothing is translated). Refused for a
    file without write permission, and, given `expected` (the bytes that were read), for
    a file that changed on disk since."""
    encoding = source.encoding
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as error:
        raise LintError(f"the fixed text cannot be encoded as {encoding}: {error.reason}") from None
    target = Path(os.path.realpath(source.path))
    status = target.stat()
    mode = stat.S_IMODE(status.st_mode)
    # Root may write anything; the mode bits still say what the owner wants.
    if not os.access(target, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise LintError("the file is read-only; not changed")

    def like_the_original(temporary: str) -> None:
        os.chmod(temporary, mode)
        if hasattr(os, "chown") and (status.st_uid, status.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temporary, status.st_uid, status.st_gid)
            except PermissionError:
                pass  # not ours to give away: the file keeps the writer's owner, as an editor's save would
        if expected is not None and _current_bytes(target) != expected:
            raise LintError("the file changed on disk while torchlint ran; not changed (run it again)")

    replace_atomically(target, lambda stream: stream.write(data), prefix=f".{target.name}.", suffix=".torchlint",
                       durable=True, before_replace=like_the_original)


def replace_atomically(target: Path, write, *, prefix: str, suffix: str, encoding: str | None = None,
                       durable: bool = False, before_replace=None) -> None:
    """`write(stream)` into a temporary file beside `target` (binary, or text in
    `encoding`), then rename it over `target`: a reader sees the old content or the new,
    never a part. `durable` syncs the data to disk first; `before_replace(temporary)` may
    adjust the temporary file, or refuse by raising. On any failure the temporary file
    is removed."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(handle, "w" if encoding else "wb", encoding=encoding) as stream:
            write(stream)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        if before_replace is not None:
            before_replace(temporary)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
