"""Fetch the data files the notebooks need, verified by sha256 (see notebook 01).

`fetch(datafile)` returns `data/<name>` once its size and sha256 match. A missing or bad
copy is replaced: first by a download from the file's public URL (skipped when
`EMBEDDINGS_OFFLINE=1`), and if that fails in any way (no network, an error page,
wrong or short content, too slow for the deadline) by a copy from the mirror folder,
`../shared/data` or `$EMBEDDINGS_DATA_MIRROR`. A file is only moved into `data/` after
its checksum matched, by an atomic rename. Processes fetching at the same time take
turns through the lock file `data/.fetch.lock`: none sees or removes another's file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import http.client
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from helpers.paths import (
    DATA_DIR,
    PARTIAL_SUFFIX,
    PROJECT_ROOT,
    FolderNotWritableError,
    atomic_write,
    make_folder,
    not_writable_error,
)

MIRROR_ENV_VAR = "EMBEDDINGS_DATA_MIRROR"
OFFLINE_ENV_VAR = "EMBEDDINGS_OFFLINE"
DEADLINE_ENV_VAR = "EMBEDDINGS_DOWNLOAD_DEADLINE"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_DEADLINE = 120.0  # seconds for a whole download, unless DEADLINE_ENV_VAR says
READ_TIMEOUT = 20.0  # seconds without a single byte before a download gives up
LOCK_NAME = ".fetch.lock"


class DataFileError(RuntimeError):
    """A data file is missing, or its content is not the expected one."""


@dataclass(frozen=True)
class DataFile:
    """A file the project needs: its name in `data/`, public URL, sha256 and size."""

    name: str
    url: str
    sha256: str
    size: int


TINYSHAKESPEARE = DataFile(
    name="tinyshakespeare.txt",
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
    "tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size=1115394,
)

QWEN_TIKTOKEN = DataFile(
    name="qwen.tiktoken",
    url="https://huggingface.co/Qwen/Qwen-7B/resolve/main/qwen.tiktoken",
    sha256="b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
    size=2561218,
)

ALL_DATA_FILES = (TINYSHAKESPEARE, QWEN_TIKTOKEN)

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mirror_dir() -> Path:
    """The mirror: `$EMBEDDINGS_DATA_MIRROR` (empty means unset), or ../shared/data."""
    value = os.environ.get(MIRROR_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else DEFAULT_MIRROR


def _mirror_note() -> str:
    """Say where the mirror folder comes from, for messages."""
    if MIRROR_ENV_VAR not in os.environ:
        return f"the default; set {MIRROR_ENV_VAR} to use another folder"
    if not os.environ[MIRROR_ENV_VAR].strip():
        return f"{MIRROR_ENV_VAR} is empty, which means the default"
    return f"from {MIRROR_ENV_VAR}"


def is_offline() -> bool:
    """True when `$EMBEDDINGS_OFFLINE` is 1/true/yes/on: no download is tried."""
    value = os.environ.get(OFFLINE_ENV_VAR, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(
        f"{OFFLINE_ENV_VAR}={value!r} is not understood. Fix: set it to 1 (never "
        "download) or 0 (download when online)."
    )


def download_deadline() -> float:
    """Seconds a whole download may take: `$EMBEDDINGS_DOWNLOAD_DEADLINE` or 120."""
    value = os.environ.get(DEADLINE_ENV_VAR, "").strip()
    try:
        deadline = float(value) if value else DEFAULT_DEADLINE
    except ValueError:
        deadline = float("nan")
    if not deadline > 0:
        raise ValueError(
            f"{DEADLINE_ENV_VAR}={value!r} is not a number of seconds > 0. "
            f"Fix: e.g. {DEADLINE_ENV_VAR}=300, or unset it ({DEFAULT_DEADLINE:.0f})."
        )
    return deadline


def _check_pace(received: int, size: int, elapsed: float, deadline: float) -> None:
    """Raise when a download cannot finish within `deadline` seconds at its pace."""
    if received == size:
        return
    rate = received / elapsed if elapsed > 0 else 0.0
    late = elapsed > deadline
    hopeless = elapsed > min(10.0, deadline / 4) and rate * (deadline - elapsed) < (
        size - received
    )
    if late or hopeless:
        raise DataFileError(
            f"too slow: {received:,} of {size:,} bytes after {elapsed:.1f} s "
            f"({rate / 1000:.1f} kB/s) cannot finish within the deadline of "
            f"{deadline:g} s (set {DEADLINE_ENV_VAR} to allow more)"
        )


def _download(
    datafile: DataFile, destination: Path, deadline: float, progress: bool
) -> None:
    """Download `datafile.url` to `destination`, within `deadline` seconds overall.

    The transfer runs in a thread, so a server that trickles even its headers cannot
    hold the caller past the deadline; an abandoned transfer stops at its next read.
    """
    stop = threading.Event()
    outcome: list[BaseException | None] = []

    def transfer() -> None:
        try:
            _receive(datafile, destination, deadline, progress, stop)
            outcome.append(None)
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    start = time.monotonic()
    thread = threading.Thread(target=transfer, name="fetch", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        stop.set()
        raise DataFileError(
            f"too slow: no complete answer after {time.monotonic() - start:.1f} s, "
            f"the deadline (set {DEADLINE_ENV_VAR} to allow more)"
        )
    if outcome[0] is not None:
        raise outcome[0]


def _receive(
    datafile: DataFile,
    destination: Path,
    deadline: float,
    progress: bool,
    stop: threading.Event,
) -> None:
    """Read `datafile.url` into `destination`, checking size and pace, until `stop`."""
    start = time.monotonic()
    size = datafile.size
    timeout = min(READ_TIMEOUT, deadline)
    with urllib.request.urlopen(datafile.url, timeout=timeout) as response:
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.strip() != str(size):
            raise DataFileError(
                f"the server announces {announced} bytes, not {size:,}: another file "
                "or an error page"
            )
        read = getattr(response, "read1", response.read)  # returns what has arrived
        received = 0
        with open(destination, "wb") as out, tqdm(
            total=size, unit="B", unit_scale=True, disable=not progress,
            desc=f"downloading {datafile.name}",
        ) as bar:
            while (block := read(1 << 16)) and not stop.is_set():
                received += len(block)
                if received > size:
                    raise DataFileError(f"the server sent more than {size:,} bytes")
                out.write(block)
                bar.update(len(block))
                _check_pace(received, size, time.monotonic() - start, deadline)
    if received != size:
        raise DataFileError(
            f"the connection ended after {received:,} of {size:,} bytes"
        )


def _problem_with(datafile: DataFile, path: Path) -> str | None:
    """Return what is wrong with the copy at `path` ('is missing', ...), or None."""
    if not path.exists():
        return "is missing"
    if path.is_dir():
        raise DataFileError(
            f"{path} is a folder, where the file {datafile.name} belongs. "
            f"Fix: move or delete that folder (rm -r '{path}')."
        )
    size = path.stat().st_size
    if size != datafile.size:
        return f"has {size:,} bytes, not {datafile.size:,}"
    actual = sha256_of(path)
    if actual != datafile.sha256:
        return f"has sha256 {actual}, not {datafile.sha256}"
    return None


def _not_writable(target: Path, problem: str) -> DataFileError:
    """The error for a data folder where a good copy cannot be put."""
    return DataFileError(
        f"{target} {problem}, and {target.parent} is not writable, so no good copy can "
        f"be put there. Fix: make it writable (chmod u+w '{target.parent}'), or fetch "
        "into another folder (data_dir=...)."
    )


def _is_partial(name: str) -> bool:
    """True for the temporary files and folders a fetch leaves if it is killed."""
    return name.startswith(".partial-") or (
        name.startswith(".") and name.endswith(PARTIAL_SUFFIX)
    )


def _remove_partials(data_dir: Path) -> None:
    """Remove leftovers of killed fetches; call it only while holding the lock."""
    for entry in data_dir.iterdir():
        if not _is_partial(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only folder: harmless, the next fetch tries again


def _open_lock(data_dir: Path) -> int:
    """Open (creating it if needed) the lock file of `data_dir`; return its fd."""
    path = data_dir / LOCK_NAME
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        try:
            return os.open(path, os.O_RDONLY)  # an existing lock file still works
        except OSError:
            raise not_writable_error(data_dir, error) from error


@contextmanager
def _locked(descriptor: int, data_dir: Path, verbose: bool) -> Iterator[None]:
    """Hold the lock file open at `descriptor`: one process at a time fills data/."""
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"Waiting for another process that is fetching into {data_dir}")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _tidy(data_dir: Path) -> None:
    """Remove leftovers of killed fetches if no fetch is running now (never waits)."""
    try:
        if not any(_is_partial(name) for name in os.listdir(data_dir)):
            return
        descriptor = _open_lock(data_dir)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _remove_partials(data_dir)
    except OSError:
        pass  # a fetch is running (it tidies up itself), or the folder is read-only
    finally:
        os.close(descriptor)


def _copy_from(
    datafile: DataFile, source: str, partial: Path, deadline: float, verbose: bool
) -> None:
    """Put the content of `source` (URL or mirror file) into `partial`, checked."""
    if source == datafile.url:
        _download(datafile, partial, deadline, progress=verbose)
    else:
        shutil.copyfile(source, partial)
    problem = _problem_with(datafile, partial)
    if problem is not None:
        raise DataFileError(f"the copy {problem} (corrupt, or another version)")


def _replace_with_good_copy(
    datafile: DataFile, target: Path, problem: str, deadline: float, verbose: bool
) -> Path:
    """Put a verified copy at `target`, from the URL or else the mirror; or raise."""
    mirror = mirror_dir() / datafile.name
    failures = []
    sources = [str(mirror)]
    if is_offline():
        failures.append(f"no download ({OFFLINE_ENV_VAR} is set)")
    else:
        sources.insert(0, datafile.url)
    for source in sources:
        if source == str(mirror) and not mirror.is_file():
            failures.append(f"no mirror copy at {mirror} ({_mirror_note()})")
            continue
        try:
            with atomic_write(target) as partial:
                _copy_from(datafile, source, partial, deadline, verbose)
        except FolderNotWritableError as error:
            raise _not_writable(target, problem) from error
        except (OSError, http.client.HTTPException, ValueError, DataFileError) as error:
            failures.append(f"{source}: {error}")
            if verbose and source == datafile.url:
                print(f"Could not download {datafile.name} ({error}); trying mirror.")
            continue
        if verbose:
            how = "Downloaded" if source == datafile.url else "Copied"
            print(f"{how} {datafile.name} from {source} (sha256 checked)")
        return target
    if problem != "is missing":
        try:
            target.unlink(missing_ok=True)  # no bad copy is left behind
            fate = "was removed"
        except OSError as error:
            fate = f"could not be removed ({error.strerror})"
        failures.insert(0, f"the copy in {target.parent} {problem} and {fate}")
    raise DataFileError(
        f"Could not get {datafile.name} (sha256 {datafile.sha256}, {datafile.size:,} "
        f"bytes): " + "; ".join(failures) + ". Fix: connect to the internet and run "
        f"again, or put a good copy in {target.parent} or in a mirror folder named by "
        f"{MIRROR_ENV_VAR}."
    )


def fetch(
    datafile: DataFile,
    data_dir: str | Path = DATA_DIR,
    verbose: bool = True,
    deadline: float | None = None,
) -> Path:
    """Return the path of `datafile` in `data_dir`, verified; get a copy if needed."""
    data_dir = Path(data_dir).expanduser()
    target = data_dir / datafile.name
    if _problem_with(datafile, target) is None:
        _tidy(data_dir)
        return target
    deadline = download_deadline() if deadline is None else deadline
    if not deadline > 0:
        raise ValueError(f"deadline must be a number of seconds > 0, not {deadline!r}.")
    try:
        make_folder(data_dir)
        descriptor = _open_lock(data_dir)
    except FolderNotWritableError as error:
        problem = _problem_with(datafile, target)
        if problem is None:  # another process put a good copy there meanwhile
            return target
        raise _not_writable(target, problem) from error
    with _locked(descriptor, data_dir, verbose):
        _remove_partials(data_dir)
        problem = _problem_with(datafile, target)  # another process may have fixed it
        if problem is None:
            return target
        if verbose and problem != "is missing":
            print(f"{target} {problem}: replacing it with a verified copy")
        return _replace_with_good_copy(datafile, target, problem, deadline, verbose)


def fetch_all() -> list[Path]:
    """Fetch every data file the series uses; used by `make data`."""
    return [fetch(datafile) for datafile in ALL_DATA_FILES]


if __name__ == "__main__":
    for path in fetch_all():
        print(f"ok  {path}")
