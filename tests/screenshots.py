"""Headless Chromium screenshots of the project's HTML reports, and a small PNG reader to check them."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")


def screenshot(page: Path, work: Path, width: int = 1000, height: int = 800) -> np.ndarray:
    """Render a local HTML file in headless Chromium and return the screenshot's pixels."""
    shot = work / f"{page.stem}.png"
    proc = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={work / 'chromium-profile'}",
            f"--screenshot={shot}", f"--window-size={width},{height}", page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}"
    return read_png(shot)


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) to (height, width, channels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG: depth {depth}, colour type {color}"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.uint8)
    prev = np.zeros(width * channels, dtype=np.int32)
    bpp = channels
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            row = (line + prev) % 256
        else:  # Average and Paeth depend on the byte just decoded: sequential
            row = np.zeros_like(line)
            p, cur = prev.tolist(), line.tolist()
            rec = [0] * len(cur)
            for x in range(len(cur)):
                a = rec[x - bpp] if x >= bpp else 0
                b = p[x]
                if kind == 3:
                    rec[x] = (cur[x] + (a + b) // 2) % 256
                else:
                    c = p[x - bpp] if x >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    rec[x] = (cur[x] + pred) % 256
            row = np.array(rec, dtype=np.int32)
        out[y] = row
        prev = row
    return out.reshape(height, width, channels)[:, :, :3]


def mask(image: np.ndarray, hex_color: str, tolerance: int = 16) -> np.ndarray:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(image.astype(np.int32) - rgb) <= tolerance, axis=2)


