"""Where the project keeps its data and its outputs, and how it writes files safely."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
OUTPUT_DIR = PROJECT_ROOT / "outputs"

PARTIAL_SUFFIX = ".partial"
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class FolderNotWritableError(PermissionError):
    """A file cannot be created in a folder: it is read-only or not ours."""


def output_path(*parts: str) -> Path:
    """Return a path under the git-ignored `outputs/`, creating its parent folders."""
    path = OUTPUT_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def not_writable_error(folder: Path, error: OSError) -> FolderNotWritableError:
    """The error for a folder where no file can be created, naming it and the fix."""
    return FolderNotWritableError(
        error.errno,
        f"Cannot create a file in {folder} ({os.strerror(error.errno or 0)}). "
        f"Fix: make the folder writable (chmod u+w '{folder}') or use another folder",
    )


def make_folder(folder: Path) -> None:
    """Create `folder` and its parents if needed, with a clear error when it cannot."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno not in _NOT_WRITABLE:
            raise
        existing = next(parent for parent in folder.parents if parent.exists())
        raise not_writable_error(existing, error) from error


def _create_unique(folder: Path, prefix: str) -> Path:
    """Create a new empty file `<prefix><random>.partial` in `folder`, umask applied."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(6)}{PARTIAL_SUFFIX}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno in _NOT_WRITABLE:
                raise not_writable_error(folder, error) from error
            raise
        return path


def _fsync(path: Path) -> None:
    """Flush a file's content to the disk, so a crash cannot leave it empty."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a unique temporary path beside `path`; on success it replaces `path`.

    Readers see the old file or the complete new one, never half of it; concurrent
    writers never share a temporary file (the last to finish wins, whole); on any error,
    Ctrl-C included, the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder, so no file can be saved there. "
            "Fix: choose a file name, e.g. inside that folder."
        )
    make_folder(path.parent)
    partial = _create_unique(path.parent, prefix=f".{path.name}.")
    try:
        yield partial
        _fsync(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
