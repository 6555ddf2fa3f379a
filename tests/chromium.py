"""Headless Chromium for tests: screenshot a local HTML file, measure its layout width.

Chromium >= 132 has only the new headless mode, which `--headless` selects.  A screenshot is
exactly `--window-size` (the viewport; nothing below it is captured).  `--force-dark-mode`
makes `prefers-color-scheme: dark` match.  Each run gets a throwaway profile directory.

The window is never narrower than 500 px: `--dump-dom` (and a page's load event) sees a
500 px viewport even with `--window-size=375,...`; only the screenshot is taken after the
requested size is applied.  So `layout_widths` measures inside the screenshot run: a probe
script keeps painting the page's scroll width and viewport width as colours, read back from
the PNG.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 60.0

# What Chromium needs on this closed, GPU-less machine run as root (playwright adds its own
# headless flag).
BROWSER_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_FLAGS = (
    "--headless",
    *BROWSER_FLAGS,
    "--hide-scrollbars",
    "--force-color-profile=srgb",  # colours in the PNG exactly as the page asked
)

# Paints documentElement.scrollWidth into the top half of the viewport and innerWidth into the
# bottom half, as rgb(n >> 8, n & 255, 0), on every frame (the final viewport comes late).
_PROBE = """<script>
(function () {
  var boxes = [document.createElement("div"), document.createElement("div")];
  boxes.forEach(function (d, i) {
    d.style.cssText = "position:fixed;left:0;width:100vw;height:50vh;z-index:2147483647;top:" +
      (i * 50) + "vh";
  });
  function paint() {
    var nums = [document.documentElement.scrollWidth, window.innerWidth];
    boxes.forEach(function (d, i) {
      d.style.background = "rgb(" + (nums[i] >> 8) + "," + (nums[i] & 255) + ",0)";
      if (!d.parentNode) document.documentElement.appendChild(d);
    });
    requestAnimationFrame(paint);
  }
  paint();
})();
</script>"""


def available() -> bool:
    return CHROMIUM.is_file()


def _run(page: Path, width: int, height: int, action: str, *, dark: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        args = [
            str(CHROMIUM),
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *(["--force-dark-mode"] if dark else []),
            action,
            page.resolve().as_uri(),
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def screenshot(page: Path, out: Path, *, width: int, height: int, dark: bool = False) -> Path:
    """A PNG of the page's first `height` pixels in a `width`-pixel-wide window."""
    out.unlink(missing_ok=True)
    _run(page, width, height, f"--screenshot={out.resolve()}", dark=dark)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out


def layout_widths(page: Path, work: Path, *, width: int) -> tuple[int, int]:
    """(scroll width, viewport width) of the page laid out in a `width`-pixel-wide window.

    A copy of the page with the probe script is written to `work` (the page is not changed).
    """
    html = page.read_text(encoding="utf-8")
    if "</body>" not in html:
        raise ValueError(f"{page} has no </body> to put the probe before")
    probe = work / f"{page.stem}.probe-{width}.html"
    probe.write_text(html.replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
    shot = screenshot(probe, work / f"{probe.stem}.png", width=width, height=200)
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        top = rgb.getpixel((width // 2, 10))
        bottom = rgb.getpixel((width // 2, rgb.height - 10))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    return top[0] * 256 + top[1], bottom[0] * 256 + bottom[1]
