"""The notebooks in JupyterLab, driven in a real browser the way a reader runs them.

Starts JupyterLab from this venv on a free 127.0.0.1 port with a token, with its
settings, workspaces, runtime and data folders and copies of the notebooks in a
temporary folder (the committed notebooks are never touched), then, with Playwright and
Debian's Chromium, opens each notebook and checks:

* opening it does not mark it modified (its kernelspec is what JupyterLab writes);
* after Edit > Clear Outputs of All Cells and Kernel > Restart Kernel and Run All Cells
  (menus and dialog, as a reader clicks), once the kernel is idle: every cell ran, none
  has an error output, every plot output holds a drawn Bokeh canvas, hovering the data
  of the first plot with a hover tool shows its tooltip, and no request of the page went
  anywhere but the server on 127.0.0.1 (BokehJS and Panel come from the Jupyter server,
  see helpers/plots.py).

Time budget: the notebooks in RUN_TO_FIRST_PLOT run only up to and including their
first plot (found in the committed outputs): Kernel > Restart Kernel, then Run > Run All
Above Selected Cell on the cell after it. Running them in full would repeat minutes of
training and benchmarks that nbval already executes in `make test`. Today 01 and 04 run
in full; 02, 03 and 05 up to their first plot.

`JUPYTERLAB_TEST_NOTEBOOKS=/some/folder` runs the same checks on the notebooks of
another folder (e.g. copies that still call `hv.extension("bokeh")`: the test fails).
The server is stopped by its own pid at the end. Screenshots of each notebook go to
outputs/screenshots/jupyterlab_*.png. Needs Chromium like tests/test_site.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_site import (
    PLOT_POINT_JS,
    SCREENSHOT_DIR,
    _require,
    hover_shows_tooltip,
    local_page,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("JUPYTERLAB_TEST_NOTEBOOKS", ROOT / "notebooks"))
NOTEBOOKS = sorted(path.name for path in NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
RUN_TO_FIRST_PLOT = {
    "02_word2vec_cbow.ipynb",
    "03_word2vec_analogies.ipynb",
    "05_llm_embeddings.ipynb",
}
KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
PLOT_MIME = "application/vnd.holoviews_exec.v0+json"
PLOT_MODEL = r'"name":"(Figure|GridPlot)"'
RUN_TIMEOUT_S = 600
# JupyterLab settings for the test: every cell attached to the page (so every plot
# renders), and no news or update pop-up over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none"
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _first_plot_cell(path: Path) -> int | None:
    """The index of the first cell whose committed outputs hold a plot."""
    notebook = nbformat.read(path, as_version=4)
    return next((i for i, cell in enumerate(notebook.cells) if _has_plot(cell)), None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving copies of the notebooks: (url, token, folder)."""
    _require(bool(NOTEBOOKS), f"No notebooks in {NOTEBOOK_DIR}.")
    work = tmp_path_factory.mktemp("jupyterlab")
    notebooks = work / "notebooks"
    notebooks.mkdir()
    for name in NOTEBOOKS:
        shutil.copy2(NOTEBOOK_DIR / name, notebooks / name)
    for relative, settings in LAB_SETTINGS.items():
        target = work / "settings" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JUPYTER_DATA_DIR=str(work / "data"),
        JUPYTER_CONFIG_DIR=str(work / "config"),
        TQDM_MININTERVAL="30",
    )
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (work / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with direct.open(f"{url}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (work / "server.log").read_text()
                    )
                time.sleep(0.5)
        yield url, token, notebooks
    finally:
        server.terminate()  # the server stops its kernels on SIGTERM
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _click_menu(page, menu: str, item: str) -> None:
    """Open a menu of JupyterLab's menu bar and click one of its items."""
    exact = re.compile(f"^{re.escape(menu)}$")
    page.locator(".lm-MenuBar-itemLabel", has_text=exact).click()
    entry = page.locator(
        ".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")
    )
    entry.wait_for(state="visible")
    entry.click()


def _confirm_restart(page) -> None:
    """Accept JupyterLab's "Restart Kernel?" dialog."""
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def _wait_until_run(page) -> None:
    """After Run All on cleared outputs: wait until cells ran and the kernel is idle.

    Done when some cell has a number, none is queued (`[*]`) and the kernel is idle,
    three polls in a row (a failing cell stops the run; the caller finds its error).
    """
    deadline, calm = time.monotonic() + RUN_TIMEOUT_S, 0
    while calm < 3:
        if time.monotonic() > deadline:
            pytest.fail(f"the notebook did not finish within {RUN_TIMEOUT_S} s")
        page.wait_for_timeout(1000)
        state = page.evaluate(
            """() => {
              const prompts = [...document.querySelectorAll(
                '.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
              const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
              return {prompts, idle: status && status.dataset.status === 'idle'};
            }"""
        )
        prompts = state["prompts"]
        ran = any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
        calm = calm + 1 if ran and "[*]:" not in prompts and state["idle"] else 0


def _has_plot(cell) -> bool:
    """Whether a cell's outputs hold a Bokeh figure (not just HoloViews' set-up)."""
    return any(
        PLOT_MIME in output.get("data", {})
        and re.search(PLOT_MODEL, str(output["data"].get("text/html", "")))
        for output in cell.get("outputs", [])
    )


def _non_white_pixels(png: bytes) -> int:
    """Count the pixels of a PNG screenshot that are clearly not white."""
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    return int((pixels < 200).sum())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_kernelspec_is_what_jupyterlab_writes(name):
    """JupyterLab rewrites any other kernelspec, marking the notebook modified."""
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert notebook.metadata.get("kernelspec") == KERNELSPEC


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_draws_in_jupyterlab(browser, lab, name):
    url, token, folder = lab
    notebook = nbformat.read(folder / name, as_version=4)
    first_plot = _first_plot_cell(folder / name)
    partial = name in RUN_TO_FIRST_PLOT and first_plot is not None
    last = first_plot if partial else len(notebook.cells) - 1

    page, outside = local_page(browser, url)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    workspace = Path(name).stem.replace("_", "")
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
        timeout=90_000
    )
    page.wait_for_function(
        """() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
                   return s && s.getAttribute('data-status') === 'idle'; }""",
        timeout=90_000,
    )
    # JupyterLab marks the tab modified for a moment while it loads; a notebook whose
    # metadata it rewrites (another kernelspec) stays modified.
    clean = "() => !document.querySelector('.jp-mod-current.jp-mod-dirty')"
    try:
        page.wait_for_function(clean, timeout=15_000)
        page.wait_for_timeout(2_000)
        page.wait_for_function(clean, timeout=1_000)
    except PlaywrightTimeout:
        pytest.fail(f"{name} is marked modified once opened: check its kernelspec")

    # Outputs cleared first, so every output checked below comes from this run.
    if partial:
        _click_menu(page, "Kernel", "Restart Kernel…")
        _confirm_restart(page)
        _click_menu(page, "Edit", "Clear Outputs of All Cells")
        if last + 1 < len(notebook.cells):
            cell = page.locator(".jp-Notebook .jp-Cell").nth(last + 1)
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-InputPrompt").click()
            _click_menu(page, "Run", "Run All Above Selected Cell")
        else:
            _click_menu(page, "Run", "Run All Cells")
    else:
        _click_menu(page, "Edit", "Clear Outputs of All Cells")
        _click_menu(page, "Kernel", "Restart Kernel and Run All Cells…")
        _confirm_restart(page)
    _wait_until_run(page)

    # save, then read what ran from the file itself: no error output in any cell
    page.keyboard.press("Control+s")
    page.wait_for_function(clean, timeout=30_000)
    ran = nbformat.read(folder / name, as_version=4)
    errors = [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(ran.cells[: last + 1])
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == [], f"{name}: error outputs {errors}"
    not_run = [
        index
        for index, cell in enumerate(ran.cells[: last + 1])
        if cell.cell_type == "code" and cell.get("execution_count") is None
    ]
    assert not_run == [], f"{name}: cells {not_run} did not run"

    plot_cells = [i for i, cell in enumerate(ran.cells[: last + 1]) if _has_plot(cell)]
    assert plot_cells, f"{name}: no plot output up to cell {last}"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    blank = []
    for index in plot_cells:
        output = (
            page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")
        )
        output.scroll_into_view_if_needed()
        try:
            output.locator(".bk-Canvas").first.wait_for(state="visible", timeout=30_000)
        except PlaywrightTimeout:
            blank.append(index)
            continue
        page.wait_for_timeout(300)
        if _non_white_pixels(output.screenshot()) < 500:
            blank.append(index)
    page.screenshot(path=str(SCREENSHOT_DIR / f"jupyterlab_{Path(name).stem}.png"))
    assert blank == [], f"{name}: the plots of cells {blank} are blank"

    hoverable = page.evaluate(PLOT_POINT_JS, None)
    assert hoverable > 0, f"{name}: no plot up to cell {last} has a hover tool"
    assert hover_shows_tooltip(page, 0), (
        f"{name}: hovering its first plot shows nothing"
    )

    _click_menu(page, "Kernel", "Shut Down Kernel")
    page.close()
    assert outside == [], f"{name}: requests to outside hosts: {sorted(set(outside))}"
    assert problems == [], problems
