"""atomic_write: whole files or nothing, under failures and concurrent processes."""

import multiprocessing
import os
import shutil
import subprocess
import sys
import time

import pytest

from helpers.paths import FolderNotWritableError, atomic_write

FORK = multiprocessing.get_context("fork")


def leftovers(folder):
    """Names in `folder` other than the expected target files."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def run_unprivileged(code: str, cwd) -> subprocess.CompletedProcess:
    """Run Python `code` where file modes apply even to root (no CAP_DAC_OVERRIDE)."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: read-only folders are writable")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    return subprocess.run(
        [*prefix, sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )


def test_success_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as partial:
        partial.write_text("new")
        assert target.read_text() == "old"  # readers still see the old file
        assert partial.parent == tmp_path and partial != target
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_new_file_gets_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "sub" / "out.bin") as partial:
            partial.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "sub" / "out.bin").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "vectors.txt"
    target.write_text("the old, complete file\n")
    with pytest.raises(error):
        with atomic_write(target) as partial:
            partial.write_text("half of the new fi")
            raise error("interrupted")
    assert target.read_text() == "the old, complete file\n"
    assert leftovers(tmp_path) == []


def test_disk_full_keeps_the_old_file_and_no_temporary(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) in a subprocess acts as a full disk."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"old" * 10)
    code = (
        "import resource\n"
        "from helpers.paths import atomic_write\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        "    with atomic_write('big.bin') as partial:\n"
        "        partial.write_bytes(b'x' * 1_000_000)\n"
        "except OSError as error:\n"
        "    print('errno', error.errno)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.strip() == "errno 27", result.stderr  # EFBIG
    assert target.read_bytes() == b"old" * 10
    assert leftovers(tmp_path) == []


def test_a_folder_at_the_path_is_refused_clearly(tmp_path):
    (tmp_path / "vectors.txt").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        with atomic_write(tmp_path / "vectors.txt") as partial:
            partial.write_text("x")
    assert leftovers(tmp_path) == []


def test_read_only_folder_is_named_with_the_fix(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    code = (
        "from helpers.paths import atomic_write, FolderNotWritableError\n"
        "try:\n"
        "    with atomic_write('ro/out.txt') as partial:\n"
        "        partial.write_text('x')\n"
        "except FolderNotWritableError as error:\n"
        "    print(error)\n"
    )
    result = run_unprivileged(code, tmp_path)
    folder.chmod(0o755)
    assert "Cannot create a file in ro (" in result.stdout, result.stderr
    assert "chmod u+w 'ro'" in result.stdout
    assert issubclass(FolderNotWritableError, PermissionError)
    assert list(folder.iterdir()) == []


def _writer(path, fill: bytes, barrier, rounds: int) -> None:
    """Write 2 MB of `fill` to `path` in small pieces, `rounds` times."""
    barrier.wait()
    for _ in range(rounds):
        with atomic_write(path) as partial, open(partial, "wb") as out:
            for _ in range(32):
                out.write(fill * 65536)
                time.sleep(0.001)


def _reader(path, barrier, stop, results) -> None:
    """Read `path` until told to stop; report the distinct contents seen."""
    barrier.wait()
    seen = set()
    while not stop.is_set():
        data = path.read_bytes()
        seen.add((len(data), frozenset(data)))
    results.put(seen)


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    target = tmp_path / "shared.bin"
    target.write_bytes(b"0" * 2 * 2**20)
    fills = [b"a", b"b", b"c", b"d"]
    barrier, stop, results = FORK.Barrier(len(fills) + 1), FORK.Event(), FORK.Queue()
    reader = FORK.Process(target=_reader, args=(target, barrier, stop, results))
    writers = [
        FORK.Process(target=_writer, args=(target, fill, barrier, 3)) for fill in fills
    ]
    for process in [reader, *writers]:
        process.start()
    for process in writers:
        process.join(60)
    stop.set()
    seen = results.get(timeout=30)
    reader.join(30)
    assert [process.exitcode for process in [reader, *writers]] == [0] * 5
    content = target.read_bytes()
    assert len(content) == 2 * 2**20 and len(set(content)) == 1  # one writer, whole
    assert content[:1] in fills
    # every read saw a whole file from a single writer (or the original)
    assert all(size == 2 * 2**20 and len(bytes_) == 1 for size, bytes_ in seen)
    assert leftovers(tmp_path) == []
