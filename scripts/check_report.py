"""Render a basketcast report.html in headless Chromium: do all images load? Save a screenshot.

Usage::

    python scripts/check_report.py out/report.html [--screenshot report.png] [--height PX]

The report is copied next to a small probe script that, once the page has
loaded, writes the number of images and those whose ``naturalWidth`` is 0 into
the DOM; Chromium's ``--dump-dom`` prints that DOM. The untouched report is
then screenshotted with a window as tall as the page (or ``--height``). The
file is also checked to be self-contained: every ``<img>`` is a ``data:`` URI
and nothing else is fetched (no external scripts, stylesheets or links).

Exit status: 0 when every image loads and nothing external is referenced,
1 otherwise, 2 when Chromium is missing or fails.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WIDTH = 1200
MAX_HEIGHT = 16_000  # Chromium's screenshots get unreliable far beyond this
TIMEOUT_S = 120

_PROBE = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (im) { return !(im.complete && im.naturalWidth > 0); });
  var out = document.createElement("pre");
  out.id = "basketcast-check";
  out.textContent = JSON.stringify({
    images: images.length,
    broken: broken.map(function (im) { return im.alt || im.src.slice(0, 40); }),
    height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)
  });
  document.body.appendChild(out);
});
</script>
"""
_RESULT = re.compile(r'<pre id="basketcast-check">(.*?)</pre>', re.S)


class _External(HTMLParser):
    """Collect every reference that a browser would fetch from outside the file."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = {"img": a.get("src"), "script": a.get("src"), "iframe": a.get("src")}.get(tag)
        if tag == "link" and a.get("rel") in ("stylesheet", "icon", "preload"):
            url = a.get("href")
        if url is not None and not url.startswith("data:"):
            self.found.append(f"<{tag}> {url[:80]}")

    def handle_data(self, data: str) -> None:
        # CSS @import or url() inside the inline stylesheet would fetch too.
        for m in re.finditer(r"@import|url\(\s*['\"]?(?!data:)[^)]*\)", data):
            self.found.append(f"css {m.group(0)[:80]}")


def _chromium(args: list[str], *, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def probe(report: Path, *, workdir: Path) -> dict[str, object]:
    """Load a copy of `report` with the probe script; return the probe's findings."""
    text = report.read_text(encoding="utf-8")
    at = text.rfind("</body>")
    probed = text[:at] + _PROBE + text[at:] if at >= 0 else text + _PROBE
    page = workdir / "probe.html"
    page.write_text(probed, encoding="utf-8")
    done = _chromium(
        ["--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        profile=workdir / "profile-probe",
    )
    m = _RESULT.search(done.stdout)
    if m is None:
        raise RuntimeError(
            f"Chromium printed no probe result (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    result: dict[str, object] = json.loads(html.unescape(m.group(1)))
    return result


def screenshot(report: Path, out: Path, *, height: int, workdir: Path) -> None:
    """Save a screenshot of `report` `WIDTH` pixels wide and `height` tall."""
    done = _chromium(
        [
            f"--screenshot={out.resolve()}",
            f"--window-size={WIDTH},{height}",
            report.resolve().as_uri(),
        ],
        profile=workdir / "profile-shot",
    )
    if not out.exists():
        raise RuntimeError(
            f"no screenshot written (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the report.html to check")
    parser.add_argument(
        "--screenshot", type=Path, default=None, help="PNG to write (default: next to the report)"
    )
    parser.add_argument(
        "--height", type=int, default=None, help="window height in px (default: the page's height)"
    )
    args = parser.parse_args(argv)
    report: Path = args.report
    if not report.is_file():
        print(f"{report}: no such file", file=sys.stderr)
        return 2
    if shutil.which(CHROMIUM) is None:
        print(f"{CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    shot: Path = args.screenshot or report.with_suffix(".png")

    external = _External()
    external.feed(report.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="check_report.") as tmp:
        workdir = Path(tmp)
        try:
            found = probe(report, workdir=workdir)
            page_height = int(found.get("height") or 5000)  # type: ignore[call-overload]
            height = args.height or min(max(page_height, 800), MAX_HEIGHT)
            screenshot(report, shot, height=height, workdir=workdir)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"chromium failed: {exc}", file=sys.stderr)
            return 2

    n = int(found["images"])  # type: ignore[call-overload]
    broken = list(found["broken"])  # type: ignore[call-overload]
    print(f"{n - len(broken)}/{n} images loaded; page {page_height} px tall")
    for name in broken:
        print(f"  broken image: {name}")
    for ref in external.found:
        print(f"  external reference: {ref}")
    print(f"screenshot: {shot} ({WIDTH}x{height})")
    return 0 if not broken and not external.found else 1


if __name__ == "__main__":
    sys.exit(main())
