"""Render check: open a run folder's report.html in headless Chromium, screenshot it, fail on broken images.

    python bench/render_report.py RUN_DIR [--build] [--out bench/results/render_report.png]

With ``--build`` it first runs ``codehotfix.report.build_report(RUN_DIR)``. Three checks:

1. every ``<img>`` has a ``data:`` source that decodes to an image (Pillow), and nothing references an
   external file or URL (the page must stand alone);
2. Chromium loads the page: a copy with a small probe script appended is rendered with ``--dump-dom``;
   the probe writes, after ``load``, how many images failed to decode (``naturalWidth == 0``);
3. a full-page PNG screenshot (``--screenshot``) for a person to look at.

Writes bench/results/render_report.json (image count, broken count, page size, seconds) and exits 1 if
any check fails.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--disable-dev-shm-usage",
         "--virtual-time-budget=5000"]
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  var out = document.createElement('pre');
  out.id = 'render-check';
  out.textContent = JSON.stringify({images: imgs.length, broken: broken,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


def static_check(html: str) -> dict:
    """Sources of img/script/link tags: all must be data: URIs that decode (images) — no files, no URLs."""
    from PIL import Image

    srcs = re.findall(r'<(?:img|script|link|iframe|source)\b[^>]*?\b(?:src|href)="([^"]*)"', html)
    external = [s for s in srcs if not s.startswith("data:")]
    bad = []
    for s in srcs:
        if s.startswith("data:image/png;base64,"):
            try:
                Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).verify()
            except Exception as e:  # noqa: BLE001 - any decode failure is a broken image
                bad.append(str(e))
    return {"sources": len(srcs), "external": external[:5], "undecodable": bad[:5]}


def chromium_check(html_path: Path, screenshot: Path, width: int, height: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
        dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=120)
        found = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout, re.S)
        result = json.loads(found.group(1).replace("&quot;", '"')) if found else {"error": dom.stderr[-500:]}
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={screenshot.resolve()}", f"--window-size={width},{height}",
                        html_path.resolve().as_uri()], capture_output=True, text=True, timeout=120, cwd=tmp)
    result["screenshot"] = str(screenshot) if screenshot.exists() else None
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--build", action="store_true", help="build the report first")
    ap.add_argument("--out", type=Path, default=Path("bench/results/render_report.png"), help="screenshot path")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=0, help="window height (default: the page's own height)")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.build:
        from codehotfix.report import build_report

        build_report(args.run_dir)
    html_path = args.run_dir / "report.html"
    html = html_path.read_text(encoding="utf-8")
    static = static_check(html)
    first = chromium_check(html_path, args.out, args.width, args.height or 4000)
    if not args.height and first.get("height"):  # re-shoot at the page's full height
        first = {**chromium_check(html_path, args.out, args.width, first["height"] + 40), "height": first["height"]}
    result = {"run_dir": str(args.run_dir), "bytes": len(html.encode()), "static": static, "chromium": first,
              "seconds": round(time.time() - t0, 1)}
    ok = (not static["external"] and not static["undecodable"] and first.get("broken") == 0
          and first.get("images", 0) == static["sources"] and first.get("screenshot"))
    result["ok"] = bool(ok)
    results = Path("bench/results")
    results.mkdir(parents=True, exist_ok=True)
    (results / "render_report.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
