"""Ex 12's 3D view as a student sees it, in a real browser (issue 34).

Starts JupyterLab on the loopback with a copy of the solution notebook 05 (the course root:
``--root``, default the kit's), opens it in headless Chromium (Debian's ``chromium``, driven by
``playwright``; WebGL drawn by SwiftShader, no GPU), runs every cell as a student would
(Run > Run All Cells), waits for Ex 12's two NiiVue views and checks what a student sees:

* two canvases, neither blank (the MRI drawn: many grey levels);
* the kit's label colours on them: edema green, core red, enhancing yellow, in the ground
  truth's view and in the prediction's;
* without network: every request to anything but 127.0.0.1 is refused, and listed (the
  notebook's Colab badge is one; the widget's JavaScript comes from the Python package).

Writes the screenshots (``--out``, default ``build/browser``) and prints one line per check;
exit status 1 if one fails. Needs a browser, so CI does not run it: ``make bench-browser``
installs Chromium (apt, as root) and playwright (pip), then runs it.

    python benchmarks/browser_ex12.py [--root ROOT] [--out DIR] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "solutions" / "05_prediction_evaluation.ipynb"
CHROMIUM_FLAGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_lab(folder: Path, port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.root_dir={folder}", "--IdentityProvider.token=", "--ServerApp.password=",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines run as root
    log = open(folder / "jupyterlab.log", "w")
    return subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


def colour_counts(png: Path) -> dict:
    """Pixels of each label colour (as blended over the grey MRI) and the grey levels of a screenshot."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    grey = (abs(r - g) < 8) & (abs(g - b) < 8)
    return {"green (edema)": int(np.sum((g > r + 40) & (g > b + 40))),
            "red (NCR/NET)": int(np.sum((r > g + 60) & (r > b + 60))),
            "yellow (enhancing)": int(np.sum((r > b + 80) & (g > b + 80) & (abs(r - g) < 60))),
            "grey levels": len(np.unique(r[grey]))}


def run(args) -> int:
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("no chromium: apt-get install chromium (or make bench-browser)")
        return 1
    refused: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
        env = {k: v for k, v in os.environ.items() if k != "TP3_SMOKE"}
        env.update(TP3_ROOT=str(Path(args.root).resolve()), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
        port = free_port()
        lab = start_lab(folder, port, env)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})

                def only_loopback(route):
                    if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
                        return route.continue_()
                    refused.append(route.request.url)
                    return route.abort()
                page.route("**/*", only_loopback)
                url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}"
                deadline = time.monotonic() + 120
                while True:
                    try:
                        page.goto(url)
                        break
                    except Exception:  # the server is still starting
                        if time.monotonic() > deadline or lab.poll() is not None:
                            print((folder / "jupyterlab.log").read_text()[-3000:])
                            raise
                        time.sleep(1)
                page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
                page.wait_for_timeout(3000)  # the kernel starts
                started = time.monotonic()
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                canvases = page.locator(".jp-OutputArea canvas")
                canvases.nth(1).wait_for(timeout=args.timeout * 1000)
                page.wait_for_timeout(8000)  # NiiVue loads the volumes and draws
                print(f"Ex 12's views appeared {time.monotonic() - started:.0f} s after Run All")
                canvases.first.scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                shots = []
                for index, name in enumerate(("ground_truth", "prediction")):
                    path = out / f"ex12_view3d_{name}.png"
                    canvases.nth(index).screenshot(path=str(path))
                    shots.append(path)
                widget = page.locator(".jp-OutputArea-output:has(canvas)").first
                widget.screenshot(path=str(out / "ex12_view3d.png"))
                browser.close()
        finally:
            lab.terminate()
            lab.wait(timeout=30)
    failed = 0
    for path in shots:
        counts = colour_counts(path)
        ok = counts["grey levels"] >= 32 and all(counts[k] >= 50 for k in counts if k != "grey levels")
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path.name}: {counts}")
    # The views drew with every request off the machine refused: they need no network.
    print(f"requests off the machine, refused: {len(refused)}" + (f" ({', '.join(sorted(set(refused)))})" if refused else ""))
    print(f"screenshots: {out}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO), help="course root (default: the kit's)")
    parser.add_argument("--out", default=str(REPO / "build" / "browser"), help="folder for the screenshots")
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for Ex 12's views")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
