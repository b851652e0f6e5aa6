"""Where the project keeps its data and its outputs, and how it writes files safely."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
OUTPUT_DIR = PROJECT_ROOT / "outputs"


def output_path(*parts: str) -> Path:
    """Return a path under the git-ignored `outputs/` folder, creating its parent folders."""
    path = OUTPUT_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _default_file_mode() -> int:
    """The mode a new file gets from the process's umask (mkstemp would give 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a unique temporary path beside `path`; on success it replaces `path` atomically.

    Readers see the old file or the complete new one, never half of it; concurrent writers
    never share a temporary file; on any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    partial = Path(name)
    try:
        os.chmod(partial, _default_file_mode())
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
