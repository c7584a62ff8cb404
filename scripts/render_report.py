"""Render a campaign report (``index.html`` of ``e2t report``) to one PNG, to look at it.

Headless Chromium (Debian: ``apt-get install -y chromium``) screenshots the page in a tall
window; the blank bottom of the window is then cut off, so the PNG is the whole page (up to
``--max-height`` pixels). Chromium runs with a throw-away profile folder that this script
removes.

Usage::

    python scripts/render_report.py e2t-campaigns/pi1070-demo/report/index.html \\
        --out report.png [--width 1300] [--max-height 9000] [--palette]

``--max-height`` also serves to keep only the top of a long page; ``--palette`` stores 256
colours instead of full RGB (a third of the size, for a screenshot to commit).

Prints the PNG's path and size. Exit code 1 with one line if Chromium or the page is
missing or the screenshot fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium(given: str | None = None) -> str | None:
    """Return the Chromium executable (``given``, else the first of :data:`CHROMIUM` found)."""
    for name in ([given] if given else CHROMIUM):
        found = shutil.which(name)
        if found:
            return found
    return None


def crop_blank_bottom(png: Path, margin: int = 24, palette: bool = False) -> tuple[int, int]:
    """Cut the rows below the page's last non-white pixel (plus ``margin``); return the size.

    With ``palette`` the PNG is stored with 256 adaptive colours.
    """
    with Image.open(png) as img:
        rgb = np.asarray(img.convert("RGB"))
    ink = np.flatnonzero((rgb < 250).any(axis=(1, 2)))
    bottom = min(len(rgb), int(ink[-1]) + 1 + margin) if len(ink) else len(rgb)
    page = Image.fromarray(rgb[:bottom])
    if palette:
        page = page.quantize(colors=256)
    page.save(png, optimize=True)
    return rgb.shape[1], bottom


def render(index: Path, out: Path, *, width: int = 1300, max_height: int = 9000,
           chromium: str | None = None, palette: bool = False,
           timeout_s: float = 120.0) -> tuple[int, int]:
    """Screenshot ``index`` into ``out``; return ``(width, height)`` of the PNG.

    Raises:
        SystemExit: with one line if Chromium or the page is missing or the render fails.
    """
    exe = find_chromium(chromium)
    if exe is None:
        raise SystemExit(f"error: no Chromium found ({chromium or ', '.join(CHROMIUM)}); "
                         f"install it with `apt-get install -y chromium`")
    if not index.is_file():
        raise SystemExit(f"error: report page {index} does not exist; write it with "
                         f"`e2t report NAME --out DIR`")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="e2t-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--user-data-dir={profile}",
               f"--window-size={width},{max_height}", f"--screenshot={out.resolve()}",
               index.resolve().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"error: Chromium did not finish within {timeout_s:.0f} s") from None
    if done.returncode != 0 or not out.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: Chromium failed (exit {done.returncode}): {last}")
    return crop_blank_bottom(out, palette=palette)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, render, print the PNG's path and size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("index", type=Path, help="the report's index.html")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--width", type=int, default=1300, help="window width in pixels")
    parser.add_argument("--max-height", type=int, default=9000,
                        help="tallest page captured, in pixels")
    parser.add_argument("--chromium", default=None, help="Chromium executable")
    parser.add_argument("--palette", action="store_true",
                        help="store 256 colours (smaller file)")
    args = parser.parse_args(argv)
    w, h = render(args.index, args.out, width=args.width, max_height=args.max_height,
                  chromium=args.chromium, palette=args.palette)
    print(f"{args.out}: {w}x{h} px, {args.out.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    sys.exit(main())
