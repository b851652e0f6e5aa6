"""Fetch the data files the notebooks need, verified by sha256 (explained in notebook 01).

A file is taken from `data/` if it is already there; otherwise it is downloaded from its
public URL; if that fails (no internet) it is copied from a mirror folder, by default
`../shared/data`, overridable with the environment variable `EMBEDDINGS_DATA_MIRROR`.
A file is only ever moved into `data/` after its checksum matched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from helpers.paths import DATA_DIR, PROJECT_ROOT

MIRROR_ENV_VAR = "EMBEDDINGS_DATA_MIRROR"
OFFLINE_ENV_VAR = "EMBEDDINGS_OFFLINE"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "data"


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
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
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


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mirror_dir() -> Path:
    """Return the offline mirror folder (`$EMBEDDINGS_DATA_MIRROR` or `../shared/data`)."""
    return Path(os.environ.get(MIRROR_ENV_VAR, DEFAULT_MIRROR))


def _download(url: str, destination: Path, timeout: float = 20.0) -> None:
    """Download `url` to `destination` with a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(destination, "wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"downloading {destination.name}"
        ) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))


def _verify(datafile: DataFile, path: Path, origin: str) -> None:
    """Raise DataFileError if `path` does not have the expected sha256."""
    actual = sha256_of(path)
    if actual != datafile.sha256:
        raise DataFileError(
            f"{datafile.name} from {origin} has sha256 {actual}, expected {datafile.sha256} "
            f"({datafile.size} bytes). The file is corrupt or a different version; it was not "
            f"kept. Fix: download it again from {datafile.url}, or put a good copy in "
            f"{mirror_dir()} (set {MIRROR_ENV_VAR} to use another folder)."
        )


def fetch(datafile: DataFile, data_dir: Path = DATA_DIR, verbose: bool = True) -> Path:
    """Return the path of `datafile` in `data_dir`, downloading or copying it first if needed."""
    data_dir = Path(data_dir)
    target = data_dir / datafile.name
    if target.exists():
        try:
            _verify(datafile, target, str(target))
        except DataFileError:
            target.unlink()
            raise
        return target

    data_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".partial-") as partial_dir:
        partial = Path(partial_dir) / datafile.name
        if os.environ.get(OFFLINE_ENV_VAR) != "1":
            try:
                _download(datafile.url, partial)
                _verify(datafile, partial, datafile.url)
                partial.replace(target)
                if verbose:
                    print(f"Downloaded {datafile.name} from {datafile.url}")
                return target
            except (urllib.error.URLError, OSError) as error:
                failures.append(f"download from {datafile.url} failed ({error})")
        mirror_copy = mirror_dir() / datafile.name
        if mirror_copy.exists():
            shutil.copyfile(mirror_copy, partial)
            _verify(datafile, partial, str(mirror_copy))
            partial.replace(target)
            if verbose:
                print(f"Copied {datafile.name} from the offline mirror {mirror_copy}")
            return target
        failures.append(f"no mirror copy at {mirror_copy}")
    raise DataFileError(
        f"Could not get {datafile.name}: " + "; ".join(failures) + ". Fix: connect to the "
        f"internet, or put the file (sha256 {datafile.sha256}) in {data_dir} or in a mirror "
        f"folder named by {MIRROR_ENV_VAR}."
    )


def fetch_all() -> list[Path]:
    """Fetch every data file the series uses; used by `make data`."""
    return [fetch(datafile) for datafile in ALL_DATA_FILES]


if __name__ == "__main__":
    for path in fetch_all():
        print(f"ok  {path}")
