"""`embedrock bench report` draws report.html, and headless Chromium shows it
offline: no request but the file itself, no console error, every chart drawn
with one point per configuration and one line per series.

The binary comes from EMBEDROCK_BIN (default: `embedrock` on PATH); the
browser from EMBEDROCK_CHROMIUM (default: /usr/bin/chromium, Debian's
`chromium` package). Playwright never downloads a browser here.
"""

import json
import math
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
from playwright.sync_api import sync_playwright  # noqa: E402

BIN = os.environ.get("EMBEDROCK_BIN", "embedrock")
CHROMIUM = os.environ.get("EMBEDROCK_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "crates" / "bench" / "tests" / "fixtures" / "results.json"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def expected(results):
    """Points and lines each chart must draw, from the results themselves."""
    x_of = {
        "quality-vs-dimensions": lambda c: c["dimensions"] if c["dimensions"] > 0 else None,
        "quality-vs-bytes": lambda c: c["bytes_per_vector"] if c["bytes_per_vector"] > 0 else None,
        "quality-vs-dollars": lambda c: c["corpus_usd"]
        if _finite(c.get("corpus_usd")) and c["corpus_usd"] >= 0
        else None,
    }
    out = {}
    for name, x in x_of.items():
        drawn = [c for c in results["results"] if _finite(c.get("ndcg@10")) and x(c) is not None]
        per_series = {}
        for c in drawn:
            key = (c["model"], c["output_type"], c.get("rescore"))
            per_series[key] = per_series.get(key, 0) + 1
        out[name] = (len(drawn), sum(1 for n in per_series.values() if n >= 2))
    return out


def png_colours(path):
    """Distinct RGB(A) pixel values of an 8-bit RGB or RGBA PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        for i in range(0, stride, channels):
            colours.add(bytes(line[i : i + 3]))
        prev = line
    return colours


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The report directory written by `embedrock bench report`."""
    out = tmp_path_factory.mktemp("report")
    proc = subprocess.run(
        [BIN, "bench", "report", "--results", str(FIXTURE), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_writes_every_file(rendered):
    results = json.loads(FIXTURE.read_text())
    assert json.loads((rendered / "results.json").read_text()) == results
    summary = (rendered / "summary.md").read_text()
    for c in results["results"]:
        assert f"| {c['output_type']} |" in summary
    mteb = sorted((rendered / "mteb").glob("*.json"))
    assert len(mteb) == len(results["results"])
    for path in mteb:
        doc = json.loads(path.read_text())
        score = doc["scores"][results["dataset"]["split"]][0]
        assert score["main_score"] == score["ndcg_at_10"]


def test_a_malformed_results_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema": 1,\n "dataset": [}\n')
    proc = subprocess.run(
        [BIN, "bench", "report", "--results", str(bad), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "broken.json" in proc.stderr and "line 2" in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "report.html").exists()


def test_chromium_draws_the_report_offline(rendered):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    results = json.loads(FIXTURE.read_text())
    want = expected(results)
    page_path = rendered / "report.html"
    url = page_path.as_uri()
    requests, failed, console, errors = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            for name, (points, lines) in want.items():
                svg = page.locator(f'svg.chart[data-chart="{name}"]')
                assert svg.count() == 1, name
                box = svg.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 200, (name, box)
                assert svg.locator(".point").count() == points, name
                assert svg.locator(".series-line").count() == lines, name
                # Every point is drawn with a size, inside its chart.
                boxes = svg.locator(".point").evaluate_all(
                    "els => els.map(e => { const r = e.getBoundingClientRect();"
                    " return [r.left, r.top, r.width, r.height]; })"
                )
                left, top = box["x"] - page.evaluate("window.scrollX"), box["y"] - page.evaluate(
                    "window.scrollY"
                )
                for x, y, w, h in boxes:
                    assert w > 0 and h > 0, name
                    assert left <= x and x + w <= left + box["width"] + 1, (name, x)
                    assert top <= y and y + h <= top + box["height"] + 1, (name, y)
            shot = rendered / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            chart_shot = rendered / "chart.png"
            page.locator('svg.chart[data-chart="quality-vs-dimensions"]').screenshot(
                path=str(chart_shot)
            )
        finally:
            browser.close()
    assert requests == [url], requests
    assert failed == [], failed
    assert errors == [], errors
    assert [m for m in console if m[0] == "error"] == [], console
    assert shot.stat().st_size > 10_000
    colours = png_colours(chart_shot)
    assert len(colours) > 5, "the chart screenshot is blank"
    # The first two model colours of the palette are drawn.
    assert bytes.fromhex("1f77b4") in colours and bytes.fromhex("d62728") in colours
