"""report.html in a real browser: headless Debian chromium driven over the DevTools protocol (CDP) on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on fds 3 and 4), stdlib only.

Checks: the page loads from disk, makes no network request other than file:/data:, logs no console error or
exception, opens no dialog (the ``<script>`` in a completion is text, not code), has its tables (with header
cells) and images (decoded, with alt text), and renders a non-blank full-page screenshot.

Set ``AIGC_RL_REPORT_SCREENSHOT=/path/shot.png`` to keep the screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless chromium not installed (Debian: apt-get install -y chromium; .ci/run installs it)",
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


class Browser:
    """Minimal CDP client over the remote-debugging pipe."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="aigc-rl-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Move the child's ends above fd 10 so that dup2 onto 3 and 4 cannot clobber one with the other.
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def child_fds() -> None:  # runs in the child between fork and exec
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            close_fds=False,
            preexec_fn=child_fds,
        )
        os.close(hi_r)
        os.close(hi_w)
        self._out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._in = os.fdopen(from_chrome_r, "rb", buffering=0)
        self._msgs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        buf = b""
        while True:
            chunk = self._in.read(65536)
            if not chunk:
                self._msgs.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self._msgs.put(json.loads(raw))

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._msgs.get(timeout=max(0.1, deadline - time.monotonic()))
            if m is None:
                raise RuntimeError(f"chromium closed the pipe during {method}: {self.stderr_text()[-2000:]}")
            if m.get("id") == self._next_id:
                if "error" in m:
                    raise RuntimeError(f"{method} failed: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict[str, Any]:
        for e in self.events:
            if e.get("method") == method:
                return e
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._msgs.get(timeout=max(0.1, deadline - time.monotonic()))
            if m is None:
                raise RuntimeError(f"chromium closed the pipe waiting for {method}")
            self.events.append(m)
            if m.get("method") == "Page.javascriptDialogOpening":  # dismiss it (recorded) so loading goes on
                self.send("Page.handleJavaScriptDialog", {"accept": False}, session=m.get("sessionId"))
            if m.get("method") == method:
                return m

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


DOM_PROBE = r"""
(() => {
  const tables = [...document.querySelectorAll('table')];
  const imgs = [...document.querySelectorAll('img')];
  return JSON.stringify({
    title: document.title,
    h1: document.querySelector('h1')?.textContent,
    h2: [...document.querySelectorAll('h2')].map(h => h.textContent.trim()),
    tables: tables.length,
    tablesWithoutTh: tables.filter(t => !t.querySelector('th')).length,
    captions: tables.map(t => t.querySelector('caption')?.textContent || ''),
    images: imgs.map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth,
                            data: i.src.startsWith('data:image/png;base64,')})),
    scripts: document.querySelectorAll('script').length,
    links: [...document.querySelectorAll('link[href], [src]')].map(e => e.getAttribute('href') || e.getAttribute('src'))
             .filter(u => !u.startsWith('data:')),
    text: document.body.innerText,
    sectionIds: [...document.querySelectorAll('section[id]')].map(s => s.id),
  });
})()
"""


@pytest.fixture(scope="module")
def page(full_report):
    """Load report.html in headless chromium; return (DOM probe, screenshot PNG bytes, events, stderr)."""
    _, out = full_report
    browser = Browser()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.events.clear()
        browser.send("Page.navigate", {"url": (out / "report.html").resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired")
        probe = json.loads(
            browser.send(
                "Runtime.evaluate", {"expression": DOM_PROBE, "returnByValue": True}, session=session
            )["result"]["value"]
        )
        size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        height = min(int(size["height"]), 16000)
        shot = browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
            },
            session=session,
        )
        png = base64.b64decode(shot["data"])
        events = list(browser.events)
    finally:
        browser.close()
    keep = os.environ.get("AIGC_RL_REPORT_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(png)
    return probe, png, events, browser.stderr_text()


def test_no_console_errors_dialogs_or_network(page):
    """The page logs nothing at error level, throws nothing, opens no dialog, fetches nothing remote."""
    _, _, events, stderr = page
    errors = [e for e in events if e.get("method") == "Runtime.exceptionThrown"]
    errors += [
        e
        for e in events
        if e.get("method") == "Runtime.consoleAPICalled"
        and e["params"].get("type") in ("error", "assert", "warning")
    ]
    errors += [
        e
        for e in events
        if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning")
    ]
    assert errors == [], errors
    assert not [e for e in events if e.get("method") == "Page.javascriptDialogOpening"]
    urls = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    assert urls, "the navigation itself should be seen as a request"
    remote = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert remote == [], remote
    assert "CONSOLE" not in stderr


def test_tables_images_and_structure(page, full_report):
    """Tables with header cells, every image decoded and described, one section per run, script shown as text."""
    probe, _, _, _ = page
    report, _ = full_report
    assert probe["title"] == "aigc-rl evaluation report"
    assert probe["scripts"] == 0 and probe["links"] == []
    # runs table + 2 comparison-score tables + shared table + (eval + checks) per run with data + sample tables
    assert probe["tables"] >= 12 and probe["tablesWithoutTh"] == 0
    assert "Runs in this report" in probe["captions"]
    assert "Evaluation of grpo-qc per policy" in probe["captions"]
    assert "Shared metrics across text runs" in probe["captions"]
    n_figs = len(report["files"]["figures"])
    assert len(probe["images"]) == n_figs == 9  # 4 training, 2 pareto, 1 overlay, 2 grids
    assert all(i["ok"] and i["data"] and len(i["alt"]) > 20 for i in probe["images"]), probe["images"]
    grid_imgs = [i for i in probe["images"] if "Grid of generated samples" in i["alt"]]
    assert len(grid_imgs) == 2 and all(i["w"] == 91 for i in grid_imgs)  # 10 x 9 px cells + 1 px border
    assert {f"run-{n}" for n in ("grpo-qc", "grpo-rel", "ppo-digits", "crashed")} <= set(probe["sectionIds"])
    assert "<script>alert('x')</script> Tuned answer" in probe["text"]
    assert "Missing files: eval.json, samples.jsonl" in probe["text"]
    assert "10 signs of reward hacking flagged" in probe["text"]


def test_screenshot_is_not_blank(page):
    """The full-page screenshot is a tall PNG with real content (text, tables, plots), not a white page."""
    from PIL import Image

    _, png, _, _ = page
    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    assert w == 1280 and h > 3000
    small = img.resize((w // 4, h // 4))
    px = list(small.getdata())
    non_white = sum(1 for p in px if sum(p) < 720) / len(px)
    assert 0.03 < non_white < 0.9, non_white
    assert len(set(px)) > 200  # plots and text, not a flat fill
