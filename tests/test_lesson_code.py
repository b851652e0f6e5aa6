"""The lesson code shown in the notebooks and its copy in `helpers` are one text."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location(
    "lesson_code", ROOT / "tools" / "lesson_code.py"
)
lesson_code = importlib.util.module_from_spec(spec)
sys.modules["lesson_code"] = lesson_code
spec.loader.exec_module(lesson_code)


def test_every_exported_cell_equals_its_copy_in_helpers():
    assert lesson_code.all_exports(), "no notebook cell is tagged `export`"
    assert lesson_code.check() == []


def _notebook(tmp_path: Path, source: str) -> Path:
    cell = {
        "cell_type": "code",
        "metadata": {"tags": ["export"]},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }
    path = tmp_path / "99_toy.ipynb"
    path.write_text(
        json.dumps(
            {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        )
    )
    return path


def test_check_sees_drift_and_sync_repairs_it(tmp_path, monkeypatch):
    helpers_dir = tmp_path / "helpers"
    helpers_dir.mkdir()
    module = helpers_dir / "toy.py"
    module.write_text('"""Toy."""\n\n\ndef double(x):\n    return 2 * x\n')
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks, "def double(x):\n    return x + x")
    monkeypatch.setattr(lesson_code, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(lesson_code, "HELPERS_DIR", helpers_dir)
    monkeypatch.setattr(lesson_code, "NOTEBOOK_DIR", notebooks)
    assert lesson_code.check() == [
        "double in helpers/toy.py:4 differs from 99_toy.ipynb"
    ]
    assert lesson_code.sync() == ["double -> helpers/toy.py"]
    assert lesson_code.check() == []
    assert "# From notebooks/99_toy.ipynb" in module.read_text()
    assert "return x + x" in module.read_text()
    assert lesson_code.sync() == []  # a second sync changes nothing


def test_exported_cell_must_hold_only_definitions(tmp_path):
    with pytest.raises(ValueError, match="only functions and classes"):
        lesson_code.notebook_exports(
            _notebook(tmp_path, "x = 1\ndef f():\n    return x")
        )
