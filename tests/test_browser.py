"""End to end: JupyterLab on localhost, a notebook showing the latent explorer, headless Chromium moves two sliders
and picks a menu entry.

One slider moves a latent dimension, the other an attribute direction, and the menu asks the conditional generator of
notebook 07 for another hair colour; each must change the image.

Needs Debian's ``chromium`` and Python ``playwright`` (``bash scripts/install_browser_deps.sh`` installs both);
playwright drives the system browser through ``executable_path``, so nothing is downloaded. Without them the test
is skipped, or fails when ``FACEGEN_REQUIRE_BROWSER=1`` (CI sets it so that a missing install cannot pass silently).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

TOTAL_SECONDS = 120
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
INSTALL_HINT = "run `bash scripts/install_browser_deps.sh` (Debian chromium + playwright into .venv)"

NOTEBOOK_SOURCE = """\
import torch
from facegen_utils.models import build
from facegen_utils.widgets import latent_explorer

from facegen_utils.latent import Direction

torch.manual_seed(0)
models = build("cdcgan", image_size=16, latent_dim=10, base_channels=4)  # notebook 07's: menus for its conditions
blonde = Direction("hair_color", "blonde", torch.ones(10) / 10 ** 0.5, separation=1.0, n_with=1, n_without=1)
explorer = latent_explorer(models, dims=(0, 1), image_scale=4, directions=[blonde])
explorer"""

KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.status === 'idle';
}"""

IMAGE = ".jp-OutputArea img.widget-image"


def _browser_or_skip() -> tuple[str, object]:
    """The chromium executable and playwright's sync API, or skip (fail under FACEGEN_REQUIRE_BROWSER=1)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    missing = [name for name, found in (("chromium", chromium), ("playwright", sync_api)) if not found]
    if missing:
        reason = f"{' and '.join(missing)} not installed: {INSTALL_HINT}"
        if os.environ.get("FACEGEN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FACEGEN_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return chromium, sync_api


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_SOURCE)]
    nbformat.write(nb, path)


def _wait_for_server(url: str, server: subprocess.Popen, deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url} in time:\n{log.read_text()[-3000:]}")


def _stop_server(server: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then terminate and finally kill it."""
    try:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=5).close()
        server.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_slider_drag_changes_the_image_in_jupyterlab(tmp_path: Path) -> None:
    chromium, sync_api = _browser_or_skip()
    deadline = time.monotonic() + TOTAL_SECONDS
    notebook_dir = tmp_path / "notebooks"
    notebook_dir.mkdir()
    _write_notebook(notebook_dir / "explore.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython")}
    log = tmp_path / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
               f"--ServerApp.root_dir={notebook_dir}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=notebook_dir)
    try:
        _wait_for_server(f"{base}/api/status?token={token}", server, deadline, log)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})

                def remaining_ms() -> float:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        pytest.fail(f"the browser test ran past {TOTAL_SECONDS} s:\n{log.read_text()[-3000:]}")
                    return left * 1000

                page.goto(f"{base}/lab/tree/explore.ipynb?token={token}", timeout=remaining_ms())
                page.wait_for_function(KERNEL_IDLE, timeout=remaining_ms())
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_function(f"() => {{ const img = document.querySelector({json.dumps(IMAGE)});"
                                       " return Boolean(img) && img.src.startsWith('blob:'); }",
                                       timeout=remaining_ms())

                def drag(slider_text: str) -> tuple[str, str]:
                    """Drag the slider labelled ``slider_text``; the image's src before and after."""
                    before = page.locator(IMAGE).get_attribute("src")
                    handle = page.locator(".widget-slider", has_text=slider_text).locator(".noUi-handle")
                    handle.wait_for(state="visible", timeout=remaining_ms())
                    box = handle.bounding_box()
                    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                    page.mouse.move(x, y)
                    page.mouse.down()
                    page.mouse.move(x + 60, y, steps=6)
                    page.mouse.up()
                    page.wait_for_function(f"(before) => document.querySelector({json.dumps(IMAGE)}).src !== before",
                                           arg=before, timeout=remaining_ms())
                    return before, page.locator(IMAGE).get_attribute("src")

                before, after = drag("z[0]")
                _, along = drag("hair_color: blonde")
                menu = page.locator(".widget-dropdown", has_text="hair_color").locator("select")
                menu.select_option(label="green", timeout=remaining_ms())
                page.wait_for_function(f"(before) => document.querySelector({json.dumps(IMAGE)}).src !== before",
                                       arg=along, timeout=remaining_ms())
                told = page.locator(IMAGE).get_attribute("src")
                status = page.locator(".widget-html", has_text="seed 0").first.inner_text(timeout=remaining_ms())
            finally:
                browser.close()
    finally:
        _stop_server(server, base, token)
    assert after != before and after.startswith("blob:")
    assert along not in (before, after) and along.startswith("blob:")
    assert told not in (before, after, along) and told.startswith("blob:")
    assert "N(0, 1)" in status and "ms" in status and "hair_color: blonde +" in status
    assert "hair_color=green" in status
