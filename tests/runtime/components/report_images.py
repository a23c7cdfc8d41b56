"""The inline pictures of an HTML report: what each says it shows, and its decoded PNG's size."""

from __future__ import annotations

import base64
import html
import re
import struct

IMG = re.compile(r'<img class="chart" alt="([^"]*)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header chunk (IHDR); fails on anything that is not a PNG."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def images(report: str) -> dict[str, tuple[int, int]]:
    """``{alt text: (width, height)}`` of every inline chart of ``report``."""
    return {html.unescape(alt): png_size(base64.b64decode(data, validate=True)) for alt, data in IMG.findall(report)}
