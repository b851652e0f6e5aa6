"""Execute notebooks headless, top to bottom, as a reader's Restart & Run All would.

    python tools/execute_notebooks.py notebooks/01_tfidf.ipynb ...            # in place
    python tools/execute_notebooks.py --output-dir outputs/executed notebooks/*.ipynb

Each notebook runs in a fresh kernel from the folder it is in. Progress bars are kept as
their final state only (a stream's carriage returns are applied, as a terminal would),
no per-cell timing metadata is written, and the kernelspec is the one JupyterLab writes
(so opening the notebook does not mark it modified); re-running an unchanged notebook
changes only the outputs that really vary.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

KERNEL_NAME = "python3"
# What JupyterLab writes for the venv's kernel; anything else marks a notebook modified.
KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
TIMEOUT_SECONDS = 1800


def execute(path: Path, output: Path) -> float:
    """Run the notebook at `path` in a fresh kernel, save it to `output`; seconds."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_SECONDS,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    notebook, _ = CoalesceStreamsPreprocessor().preprocess(notebook, {})
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return time.perf_counter() - start


def main() -> int:
    """Execute the notebooks named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--output-dir", type=Path, help="write there, not in place")
    args = parser.parse_args()
    # a live bar redraws itself many times a second; only its final state is kept anyway
    os.environ.setdefault("TQDM_MININTERVAL", "30")
    for path in args.notebooks:
        output = args.output_dir / path.name if args.output_dir else path
        print(f"executing {path} ...", flush=True)
        seconds = execute(path, output)
        print(f"  done in {seconds:.0f} s -> {output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
