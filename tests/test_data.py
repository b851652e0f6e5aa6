"""Fetching data files: fallback to the mirror, deadlines, races, clear errors."""

import base64
import fcntl
import hashlib
import http.server
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import data
from helpers.data import DataFile, DataFileError, fetch

FORK = multiprocessing.get_context("fork")
CONTENT = b"to be, or not to be: that is the question\n" * 500  # 21,000 bytes
FLIPPED = bytes([CONTENT[0] ^ 1]) + CONTENT[1:]  # same size, one bit differs
SAMPLE = DataFile(
    "sample.txt", "http://127.0.0.1:9/unreachable", hashlib.sha256(CONTENT).hexdigest(),
    len(CONTENT),
)


def names(folder: Path) -> list[str]:
    """The files in `folder` except the lock file (so leftovers show up)."""
    return sorted(p.name for p in folder.iterdir() if p.name != data.LOCK_NAME)


def served(server, path: str) -> DataFile:
    """SAMPLE, downloaded from `path` on the loopback `server`."""
    host, port = server.server_address
    url = f"http://{host}:{port}{path}"
    return DataFile(SAMPLE.name, url, SAMPLE.sha256, SAMPLE.size)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves SAMPLE well or badly, depending on the path."""

    def log_message(self, *args) -> None:
        pass

    def head(self, length: int | None, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self.close_connection = True
        if self.path == "/good":
            self.head(len(CONTENT))
            self.wfile.write(CONTENT)
        elif self.path == "/flipped":  # right size, wrong bytes
            self.head(len(FLIPPED))
            self.wfile.write(FLIPPED)
        elif self.path == "/portal":  # a captive portal answering 200 with HTML
            page = b"<html><body>Please log in to the Wi-Fi</body></html>"
            self.head(len(page), Content_Type="text/html")
            self.wfile.write(page)
        elif self.path == "/half":  # the connection closes after half the body
            self.head(len(CONTENT))
            self.wfile.write(CONTENT[: len(CONTENT) // 2])
        elif self.path == "/short-no-length":
            self.head(None)
            self.wfile.write(CONTENT[:-1])
        elif self.path == "/too-long-no-length":
            self.head(None)
            self.wfile.write(CONTENT + b"and more")
        elif self.path == "/chunked-cut":  # http.client raises IncompleteRead
            self.head(None, Transfer_Encoding="chunked")
            self.wfile.write(b"%x\r\n" % len(CONTENT) + CONTENT[:100])
        elif self.path == "/trickle":
            self.head(len(CONTENT))
            try:
                for byte in CONTENT:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except ConnectionError:
                pass  # the client gave up, as it should
        elif self.path == "/stall":
            self.head(len(CONTENT))
            self.wfile.flush()
            time.sleep(4)
        elif self.path == "/slow-headers":  # headers at 5 bytes a second, forever
            try:
                for byte in b"HTTP/1.0 200 OK\r\n" + b"X-Slow: " + b"a" * 1000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except ConnectionError:
                pass
        else:
            self.head(0, status=404)


@pytest.fixture
def server():
    """A loopback HTTP server in threads, with the requests it received."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A mirror folder holding a good copy of sample.txt, and no offline setting."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / SAMPLE.name).write_bytes(CONTENT)
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(folder))
    monkeypatch.delenv(data.OFFLINE_ENV_VAR, raising=False)
    monkeypatch.delenv(data.DEADLINE_ENV_VAR, raising=False)
    return folder


@pytest.fixture
def offline(mirror, monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, "1")
    return mirror


def test_copies_from_mirror_when_offline(tmp_path, offline, capsys):
    path = fetch(SAMPLE, data_dir=tmp_path / "data")
    assert path.read_bytes() == CONTENT
    assert names(tmp_path / "data") == ["sample.txt"]
    assert f"Copied sample.txt from {offline / 'sample.txt'}" in capsys.readouterr().out


def test_a_good_download_is_used_and_said(tmp_path, mirror, server, capsys):
    (mirror / SAMPLE.name).unlink()
    datafile = served(server, "/good")
    assert fetch(datafile, data_dir=tmp_path / "data").read_bytes() == CONTENT
    assert f"Downloaded sample.txt from {datafile.url}" in capsys.readouterr().out
    assert names(tmp_path / "data") == ["sample.txt"]


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/unknown", "HTTP Error 404"),
        ("/flipped", "has sha256"),
        ("/portal", "announces 52 bytes, not 21,000"),
        ("/half", "ended after 10,500 of 21,000 bytes"),
        ("/short-no-length", "ended after 20,999 of 21,000 bytes"),
        ("/too-long-no-length", "more than 21,000 bytes"),
        ("/chunked-cut", "IncompleteRead|Incomplete"),
    ],
)
def test_any_bad_download_falls_back_to_the_mirror(tmp_path, mirror, server, capsys,
                                                   path, reason):
    datafile = served(server, path)
    assert fetch(datafile, data_dir=tmp_path / "data").read_bytes() == CONTENT
    out = capsys.readouterr().out
    assert re.search(f"Could not download sample.txt .*({reason})", out), out
    assert f"Copied sample.txt from {mirror / 'sample.txt'}" in out
    assert server.requests == [path]
    assert names(tmp_path / "data") == ["sample.txt"]


def test_a_bad_download_without_mirror_names_both_failures(tmp_path, mirror, server):
    (mirror / SAMPLE.name).unlink()
    with pytest.raises(DataFileError) as raised:
        fetch(served(server, "/portal"), data_dir=tmp_path / "data", verbose=False)
    message = str(raised.value)
    assert "announces 52 bytes" in message and "no mirror copy at" in message
    assert names(tmp_path / "data") == []


@pytest.mark.parametrize("path", ["/trickle", "/stall", "/slow-headers"])
def test_a_slow_server_gives_way_to_the_mirror_within_the_deadline(
    tmp_path, mirror, server, monkeypatch, capsys, path
):
    monkeypatch.setenv(data.DEADLINE_ENV_VAR, "1.5")
    start = time.monotonic()
    fetched = fetch(served(server, path), data_dir=tmp_path / "data")
    assert time.monotonic() - start < 1.5 + 2  # the deadline, plus a margin
    out = capsys.readouterr().out
    assert re.search("too slow|timed out", out), out
    assert fetched.read_bytes() == CONTENT
    assert names(tmp_path / "data") == ["sample.txt"]


def test_deadline_argument_and_bad_settings(tmp_path, mirror, server, monkeypatch):
    start = time.monotonic()
    fetch(served(server, "/trickle"), tmp_path / "data", verbose=False, deadline=0.8)
    assert time.monotonic() - start < 0.8 + 2
    with pytest.raises(ValueError, match="deadline must be a number of seconds > 0"):
        fetch(SAMPLE, tmp_path / "data2", deadline=0)
    data._check_pace(100, 100, elapsed=5.0, deadline=1.0)  # done: late but complete
    with pytest.raises(DataFileError, match="99 of 100 bytes after 5.0 s"):
        data._check_pace(99, 100, elapsed=5.0, deadline=1.0)
    deadline, offline = data.DEADLINE_ENV_VAR, data.OFFLINE_ENV_VAR
    for variable, value in [(deadline, "soon"), (deadline, "0"), (offline, "maybe")]:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValueError, match=f"{variable}='{value}' is not"):
            fetch(SAMPLE, data_dir=tmp_path / "other")
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_offline_values_mean_no_request(tmp_path, mirror, server, monkeypatch, value):
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, value)
    fetch(served(server, "/good"), data_dir=tmp_path / "data", verbose=False)
    assert server.requests == []


def test_checksum_mismatch_in_mirror_leaves_nothing(tmp_path, offline):
    (offline / "sample.txt").write_bytes(FLIPPED)
    with pytest.raises(DataFileError, match=f"has sha256 .*, not {SAMPLE.sha256}"):
        fetch(SAMPLE, data_dir=tmp_path / "data")
    assert names(tmp_path / "data") == []


def test_a_corrupt_copy_in_data_is_replaced(tmp_path, offline, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sample.txt").write_bytes(FLIPPED)
    assert fetch(SAMPLE, data_dir=data_dir).read_bytes() == CONTENT
    assert "has sha256" in capsys.readouterr().out
    (data_dir / "sample.txt").write_bytes(CONTENT[:100])
    assert fetch(SAMPLE, data_dir=data_dir).read_bytes() == CONTENT
    assert "has 100 bytes, not 21,000: replacing it" in capsys.readouterr().out


def test_a_corrupt_copy_without_a_good_source_is_removed(tmp_path, offline):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sample.txt").write_bytes(b"half a fi")
    (offline / "sample.txt").unlink()
    with pytest.raises(DataFileError, match="has 9 bytes, not 21,000 and was removed"):
        fetch(SAMPLE, data_dir=data_dir)
    assert names(data_dir) == []


def test_a_folder_in_place_of_the_file_is_explained(tmp_path, offline):
    (tmp_path / "data" / "sample.txt").mkdir(parents=True)
    with pytest.raises(DataFileError, match="is a folder, where the file sample.txt"):
        fetch(SAMPLE, data_dir=tmp_path / "data")


def test_missing_everywhere_says_how_to_fix(tmp_path, offline):
    (offline / "sample.txt").unlink()
    with pytest.raises(DataFileError, match="no mirror copy") as raised:
        fetch(SAMPLE, data_dir=tmp_path / "data")
    assert data.MIRROR_ENV_VAR in str(raised.value)
    assert names(tmp_path / "data") == []


def test_empty_mirror_variable_is_not_the_current_folder(tmp_path, offline,
                                                         monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV_VAR, "")
    monkeypatch.chdir(offline)  # a good copy in the current folder must not be used
    assert data.mirror_dir() == data.DEFAULT_MIRROR
    with pytest.raises(DataFileError, match="EMBEDDINGS_DATA_MIRROR is empty, which "
                       "means the default"):
        fetch(SAMPLE, data_dir=tmp_path / "data")


def test_tilde_in_mirror_variable_is_home(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(data.MIRROR_ENV_VAR, "~/mirror")
    assert data.mirror_dir() == offline
    assert fetch(SAMPLE, data_dir="~/data").read_bytes() == CONTENT


def test_leftovers_of_killed_fetches_are_removed(tmp_path, offline):
    data_dir = tmp_path / "data"
    (data_dir / ".partial-k1ll3d").mkdir(parents=True)
    (data_dir / ".partial-k1ll3d" / "sample.txt").write_bytes(CONTENT[:10])
    (data_dir / ".sample.txt.0123abcd.partial").write_bytes(CONTENT[:10])
    fetch(SAMPLE, data_dir=data_dir)
    assert names(data_dir) == ["sample.txt"]
    (data_dir / ".qwen.tiktoken.9876.partial").write_bytes(b"x")
    fetch(SAMPLE, data_dir=data_dir)  # the file is there already: tidied anyway
    assert names(data_dir) == ["sample.txt"]


def test_a_live_fetchs_partial_file_is_kept(tmp_path, offline, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    live = data_dir / ".sample.txt.11aa22bb.partial"
    live.write_bytes(CONTENT[:10])
    lock = os.open(data_dir / data.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a running fetch holds it
    waiting = threading.Thread(target=fetch, args=(SAMPLE, data_dir))
    waiting.start()
    time.sleep(0.5)
    assert live.exists() and waiting.is_alive()
    assert "Waiting for another process" in capsys.readouterr().out
    os.close(lock)
    waiting.join(10)
    assert names(data_dir) == ["sample.txt"]


def _fetch_in_process(data_dir, barrier, results, slow: bool, later: float) -> None:
    """Fetch SAMPLE after the barrier; report the outcome and the file `later` on."""
    if slow:  # a slow disk: hashing takes 0.6 s more
        real = data.sha256_of
        data.sha256_of = lambda path: (real(path), time.sleep(0.6))[0]
    barrier.wait()
    if not slow:
        time.sleep(0.2)  # let the slow process hash the corrupt copy first
    try:
        path = fetch(SAMPLE, data_dir=data_dir, verbose=False)
        time.sleep(later)  # read when the other processes are done
        results.put(("ok", path.read_bytes() == CONTENT))
    except Exception as error:  # the test reports every kind of failure
        results.put((type(error).__name__, str(error)))


def run_processes(data_dir, slow_flags, later: float) -> list:
    """Start one fetching process per flag together; return their outcomes."""
    barrier, results = FORK.Barrier(len(slow_flags)), FORK.Queue()
    processes = [
        FORK.Process(
            target=_fetch_in_process, args=(data_dir, barrier, results, slow, later)
        )
        for slow in slow_flags
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(10)
    return outcomes


def test_concurrent_fetches_over_a_corrupt_copy_all_succeed(tmp_path, offline):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for corrupt in (FLIPPED, CONTENT[:5000], FLIPPED):
        (data_dir / "sample.txt").write_bytes(corrupt)
        assert run_processes(data_dir, [False] * 4, 0.5) == [("ok", True)] * 4
        assert (data_dir / "sample.txt").read_bytes() == CONTENT
        assert names(data_dir) == ["sample.txt"]


def test_a_slow_verifier_never_removes_a_good_copy_placed_meanwhile(tmp_path,
                                                                   offline):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sample.txt").write_bytes(FLIPPED)
    assert run_processes(data_dir, [True, False], 1.5) == [("ok", True)] * 2
    assert (data_dir / "sample.txt").read_bytes() == CONTENT


def _unprivileged(code: str, cwd: Path) -> str:
    """Run `code` where file modes apply even to root; return its output."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: read-only folders are writable")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    result = subprocess.run(
        [*prefix, sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
        timeout=60, env=os.environ,
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("content", [CONTENT, None, FLIPPED])
def test_read_only_data_folder(tmp_path, offline, content):
    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    if content is not None:
        (data_dir / "sample.txt").write_bytes(content)
    data_dir.chmod(0o555)
    code = (
        "from helpers.data import DataFile, fetch\n"
        f"sample = DataFile(*{(SAMPLE.name, SAMPLE.url, SAMPLE.sha256, SAMPLE.size)})\n"
        "try:\n"
        "    print('ok', fetch(sample, 'ro', verbose=False))\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    out = _unprivileged(code, tmp_path)
    data_dir.chmod(0o755)
    if content == CONTENT:
        assert out.strip() == "ok ro/sample.txt"
        return
    problem = "is missing" if content is None else "has sha256"
    assert f"DataFileError ro/sample.txt {problem}" in out
    assert "ro is not writable" in out and "chmod u+w 'ro'" in out
    assert names(data_dir) == ([] if content is None else ["sample.txt"])


def test_read_only_folder_with_lock_file_and_no_source(tmp_path, offline):
    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    (data_dir / data.LOCK_NAME).touch()
    (data_dir / "sample.txt").write_bytes(FLIPPED)
    (offline / "sample.txt").unlink()
    data_dir.chmod(0o555)
    code = (
        "from helpers.data import DataFile, fetch\n"
        f"sample = DataFile(*{(SAMPLE.name, SAMPLE.url, SAMPLE.sha256, SAMPLE.size)})\n"
        "try:\n"
        "    fetch(sample, 'ro', verbose=False)\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    out = _unprivileged(code, tmp_path)
    data_dir.chmod(0o755)
    assert "DataFileError Could not get sample.txt" in out
    assert "has sha256" in out and "could not be removed (Permission denied)" in out


def test_real_tinyshakespeare_is_the_original_notebooks_text():
    """Facts of the file from the original notebook, independent of the checksum."""
    text = fetch(data.TINYSHAKESPEARE, verbose=False).read_text(encoding="utf-8")
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me")
    assert text.endswith("Whiles thou art waking.\n")
    assert text.count("\n") == 40_000
    assert len(text.split()) == 202_651


def test_real_qwen_tiktoken_holds_the_151643_qwen_ranks():
    lines = fetch(data.QWEN_TIKTOKEN, verbose=False).read_bytes().splitlines()
    assert len(lines) == 151_643
    assert [int(line.split()[1]) for line in lines] == list(range(151_643))
    assert base64.b64decode(lines[0].split()[0]) == b"!"


def test_constants_agree_with_data_readme():
    """data/README.md (committed) records each file; the code must say the same."""
    readme = (data.PROJECT_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    for datafile in data.ALL_DATA_FILES:
        row = f"| {datafile.name} | {datafile.size} | {datafile.sha256} |"
        assert row in readme
        assert datafile.url in readme


def test_checksums_agree_with_shared_sources_md():
    sources = Path(data.DEFAULT_MIRROR, "SOURCES.md")
    if not sources.exists():
        pytest.skip("../shared/data/SOURCES.md is not beside this checkout")
    text = sources.read_text()
    for datafile in data.ALL_DATA_FILES:
        assert f"| {datafile.name} | {datafile.size} | {datafile.sha256} |" in text
