"""The HTML report, rendered by headless Chromium, shows the curves (checked on the screenshot's pixels)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from eval_harness.cli import eval_app
from eval_harness.report import ORACLE_COLOR, PALETTE
from tests.screenshots import CHROMIUM, read_png, screenshot
from tests.screenshots import mask as _mask

MMLU = Path(__file__).resolve().parents[2] / "shared/data/routing/mmlu-train.jsonl"
WEAK, STRONG = "mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(not MMLU.is_file(), reason=f"shared routing data not found at {MMLU}"),
]


def test_png_reader_round_trip(tmp_path: Path) -> None:
    # A PNG written with every filter type, to trust the reader before trusting the screenshot.
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    rows = []
    prev = np.zeros(21, dtype=np.int32)
    for y, kind in enumerate([0, 1, 2, 3, 4]):
        cur = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(3, dtype=np.int32), cur[:-3]])
        upleft = np.concatenate([np.zeros(3, dtype=np.int32), prev[:-3]])
        if kind == 0:
            filtered = cur
        elif kind == 1:
            filtered = cur - left
        elif kind == 2:
            filtered = cur - prev
        elif kind == 3:
            filtered = cur - (left + prev) // 2
        else:
            pa, pb, pc = np.abs(prev - upleft), np.abs(left - upleft), np.abs(left + prev - 2 * upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
            filtered = cur - pred
        rows.append(bytes([kind]) + (filtered % 256).astype(np.uint8).tobytes())
        prev = cur

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    (tmp_path / "t.png").write_bytes(png)
    np.testing.assert_array_equal(read_png(tmp_path / "t.png"), pixels)


def test_report_screenshot_shows_the_curves(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        eval_app,
        [
            "run",
            "--data",
            str(MMLU),
            "--weak",
            WEAK,
            "--strong",
            STRONG,
            "--classifier",
            "rules",
            "--bootstrap",
            "20",
            "--html",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    image = screenshot(report, tmp_path)
    assert image.shape[:2] == (800, 1000)
    assert np.mean(np.all(image > 245, axis=2)) > 0.5  # a white page, not a blank or an error screen
    # Each chart (left half, right half) must show the classifier's curve and the oracle's:
    # pixels of the curve colour spread across most of the plot's width, not a legend swatch.
    half = image.shape[1] // 2
    for color in (PALETTE[0], ORACLE_COLOR):
        mask = _mask(image, color)
        for lo, hi in ((0, half), (half, image.shape[1])):
            ys, xs = np.nonzero(mask[:, lo:hi])
            assert len(xs) > 150, f"{color}: only {len(xs)} pixels in columns {lo}-{hi}"
            assert xs.max() - xs.min() > 300, f"{color}: spans {xs.max() - xs.min()} px, not a curve"
            assert ys.max() - ys.min() > 40, f"{color}: flat, {ys.max() - ys.min()} px tall"
