"""Inline SVG pictures for the MLOps view, drawn in Python (no JavaScript, no internet, no matplotlib).

Every function returns a self-contained ``<svg>`` element; every text in it is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: one colour per model version (cycled); the champion and challenger get the first two
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
FONT = 'font-family="sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def title_width(title: str) -> int:
    """Pixels a bold 11 px sans-serif title needs (a generous 6.6 px per character), with margins:
    a picture is at least this wide, so its title is never cut off."""
    return math.ceil(6.6 * len(title)) + 12


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def colour_of(key: str, keys: Sequence[str]) -> str:
    return PALETTE[list(keys).index(key) % len(PALETTE)] if key in keys else PALETTE[-1]


def bar_chart(title: str, bars: Sequence[tuple[str, float]], highlight: dict[str, str] | None = None) -> str:
    """Vertical bars, one per label, with the value on top; ``highlight`` maps a label to a note
    under it (its alias, say), and such bars are drawn darker."""
    highlight = highlight or {}
    width, height, left, bottom, top = max(220, 60 + 56 * len(bars), title_width(title) + 40), 220, 40, 46, 28
    if not bars:
        return _svg(width, 60, [f'<text x="8" y="30" {FONT}>{escape(title)}: no data</text>'], title)
    values = [v for _, v in bars]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    plot = height - bottom - top

    def y(v: float) -> float:
        return top + plot * (high - v) / span

    body = [f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>',
            f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - 8}" y2="{y(0):.1f}" stroke="#888"/>']
    step = (width - left - 8) / len(bars)
    for i, (label, value) in enumerate(bars):
        x = left + i * step + step * 0.15
        w = step * 0.7
        y0, y1 = sorted((y(0), y(value)))
        fill = "#2b6cb0" if label in highlight else "#90cdf4"
        body.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{max(y1 - y0, 1):.1f}" fill="{fill}">'
                    f"<title>{escape(label)}: {value}</title></rect>")
        body.append(f'<text x="{x + w / 2:.1f}" y="{y0 - 4:.1f}" text-anchor="middle" {FONT}>{_fmt(value)}</text>')
        body.append(f'<text x="{x + w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT}>{escape(label)}</text>')
        if label in highlight:
            body.append(f'<text x="{x + w / 2:.1f}" y="{height - bottom + 30}" text-anchor="middle" {FONT} '
                        f'fill="#2b6cb0">{escape(highlight[label])}</text>')
    return _svg(width, height, body, title)


def drift_heatmap(title: str, features: Sequence[str], windows: Sequence[str],
                  cells: dict[tuple[str, str], tuple[bool, float | None]]) -> str:
    """Features (rows) by monitoring windows (columns): red where drift was detected, green where
    not, grey where the window has no figure; the cell's text is the test's score (a p-value or a
    distance, as the verdict's ``stattest`` says)."""
    if not features or not windows:
        return _svg(360, 40, [f'<text x="8" y="24" {FONT}>{escape(title)}: no monitoring window with drift figures yet</text>'], title)
    label_w, cell_w, cell_h, top = 130, 74, 22, 30
    width, height = max(label_w + cell_w * len(windows) + 10, title_width(title)), top + cell_h * len(features) + 44
    body = [f'<text x="4" y="16" {FONT} font-weight="bold">{escape(title)}</text>']
    for r, feature in enumerate(features):
        yy = top + r * cell_h
        body.append(f'<text x="{label_w - 6}" y="{yy + 15}" text-anchor="end" {FONT}>{escape(feature)}</text>')
        for c, window in enumerate(windows):
            xx = label_w + c * cell_w
            detected, score = cells.get((feature, window), (False, None))
            fill = "#e2e8f0" if score is None else ("#f56565" if detected else "#9ae6b4")
            text = "" if score is None else (f"{score:.1e}" if 0 < abs(score) < 0.001 else f"{score:.3f}")
            body.append(f'<rect x="{xx}" y="{yy}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}">'
                        f'<title>{escape(feature)} @ {escape(window)}: {"drift" if detected else "no drift"} ({escape(text or "n/a")})</title></rect>')
            body.append(f'<text x="{xx + cell_w / 2 - 1}" y="{yy + 15}" text-anchor="middle" {FONT}>{escape(text)}</text>')
    for c, window in enumerate(windows):
        body.append(f'<text x="{label_w + c * cell_w + cell_w / 2}" y="{top + cell_h * len(features) + 14}" text-anchor="middle" {FONT}>{escape(window)}</text>')
    return _svg(width, height, body, title)


def share_bars(title: str, columns: Sequence[tuple[str, dict[str, float]]]) -> str:
    """One 100 % stacked bar per column (a monitoring window, or "now"), split by model version,
    with a legend; the share of each part is written in it when wide enough."""
    columns = [(label, parts) for label, parts in columns if sum(parts.values()) > 0]
    if not columns:
        return _svg(360, 40, [f'<text x="8" y="24" {FONT}>{escape(title)}: no traffic recorded yet</text>'], title)
    versions = sorted({v for _, parts in columns for v in parts}, key=lambda v: (len(v), v))
    label_w, bar_h, top = 130, 22, 30
    bar_w = 420
    width, height = max(label_w + bar_w + 20, title_width(title)), top + (bar_h + 6) * len(columns) + 30
    body = [f'<text x="4" y="16" {FONT} font-weight="bold">{escape(title)}</text>']
    for r, (label, parts) in enumerate(columns):
        yy = top + r * (bar_h + 6)
        total = sum(parts.values())
        body.append(f'<text x="{label_w - 6}" y="{yy + 15}" text-anchor="end" {FONT}>{escape(label)}</text>')
        x = float(label_w)
        for version in versions:
            share = parts.get(version, 0) / total
            if share <= 0:
                continue
            w = bar_w * share
            body.append(f'<rect x="{x:.1f}" y="{yy}" width="{w:.1f}" height="{bar_h}" fill="{colour_of(version, versions)}">'
                        f"<title>version {escape(version)}: {share:.1%} ({_fmt(parts[version])})</title></rect>")
            if w > 34:
                body.append(f'<text x="{x + w / 2:.1f}" y="{yy + 15}" text-anchor="middle" {FONT} fill="white">'
                            f"v{escape(version)} {share:.0%}</text>")
            x += w
    ly = top + (bar_h + 6) * len(columns) + 12
    for i, version in enumerate(versions):
        lx = label_w + i * 70
        body.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour_of(version, versions)}"/>')
        body.append(f'<text x="{lx + 14}" y="{ly + 9}" {FONT}>version {escape(version)}</text>')
    return _svg(width, height, body, title)


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None (JSON nulls, strings, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
