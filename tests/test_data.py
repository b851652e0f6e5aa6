"""Fetching data files: mirror copy, checksum check, clear errors, no bad file left behind."""

import hashlib
from pathlib import Path

import pytest

from helpers import data
from helpers.data import DataFile, DataFileError, fetch

CONTENT = b"to be, or not to be\n"
GOOD = DataFile("sample.txt", "http://127.0.0.1:9/unreachable", hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))


@pytest.fixture
def offline_mirror(tmp_path, monkeypatch):
    """An offline machine with a mirror folder holding a good copy of sample.txt."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "sample.txt").write_bytes(CONTENT)
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(mirror))
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, "1")
    return mirror


def test_copies_from_mirror_when_offline(tmp_path, offline_mirror):
    path = fetch(GOOD, data_dir=tmp_path / "data")
    assert path.read_bytes() == CONTENT
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["sample.txt"]


def test_unreachable_url_falls_back_to_mirror(tmp_path, offline_mirror, monkeypatch):
    monkeypatch.delenv(data.OFFLINE_ENV_VAR)
    path = fetch(GOOD, data_dir=tmp_path / "data")
    assert path.read_bytes() == CONTENT


def test_checksum_mismatch_in_mirror_leaves_nothing(tmp_path, offline_mirror):
    (offline_mirror / "sample.txt").write_bytes(b"tampered\n")
    with pytest.raises(DataFileError, match=f"expected {GOOD.sha256}"):
        fetch(GOOD, data_dir=tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_corrupt_file_in_data_dir_is_removed_with_clear_error(tmp_path, offline_mirror):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sample.txt").write_bytes(b"half a fi")
    with pytest.raises(DataFileError, match="corrupt"):
        fetch(GOOD, data_dir=data_dir)
    assert not (data_dir / "sample.txt").exists()
    assert fetch(GOOD, data_dir=data_dir).read_bytes() == CONTENT


def test_missing_everywhere_says_how_to_fix(tmp_path, offline_mirror):
    (offline_mirror / "sample.txt").unlink()
    with pytest.raises(DataFileError, match="no mirror copy") as raised:
        fetch(GOOD, data_dir=tmp_path / "data")
    assert data.MIRROR_ENV_VAR in str(raised.value)
    assert list((tmp_path / "data").iterdir()) == []


def test_real_tinyshakespeare_matches_sources_md():
    path = fetch(data.TINYSHAKESPEARE)
    assert path.stat().st_size == 1115394
    assert data.sha256_of(path) == data.TINYSHAKESPEARE.sha256


def test_checksums_agree_with_shared_sources_md():
    sources = Path(data.DEFAULT_MIRROR, "SOURCES.md")
    if not sources.exists():
        pytest.skip("../shared/data/SOURCES.md is not beside this checkout")
    text = sources.read_text()
    for datafile in data.ALL_DATA_FILES:
        assert f"| {datafile.name} | {datafile.size} | {datafile.sha256} |" in text
