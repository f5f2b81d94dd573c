"""Equity and drawdown as one small SVG (hand-built: no plotting library on the cold path).

Telegram and API clients get the same picture. Long curves are thinned to at most 600
points, keeping each bucket's lowest drawdown so the deepest fall always shows.
"""

from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT = 720, 400
PAD = 48
SPLIT = 0.68  # share of the plot height used by the equity panel
MAX_POINTS = 600


def _thin(values: np.ndarray, dd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(values)
    if n <= MAX_POINTS:
        return np.arange(n), values, dd
    edges = np.linspace(0, n, MAX_POINTS + 1).astype(int)
    picks = np.array([a + int(np.argmin(dd[a:b])) for a, b in zip(edges[:-1], edges[1:])])
    picks[-1] = n - 1
    return picks, values[picks], dd[picks]


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def equity_svg(dates: list[str], equity: list[int], drawdown: list[float], *, title: str = "") -> str:
    """An SVG document: equity (KRW) on top, drawdown (%) below, dates along the bottom."""
    e = np.asarray(equity, dtype=np.float64)
    d = np.asarray(drawdown, dtype=np.float64)
    if len(e) < 2:
        e, d, dates = np.array([e[0] if len(e) else 0.0] * 2), np.zeros(2), list(dates or ["", ""]) * 2
    idx, e, d = _thin(e, d)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    top_h = inner_h * SPLIT - 8
    xs = PAD + idx / max(idx[-1], 1) * inner_w
    lo, hi = float(e.min()), float(e.max())
    span = hi - lo or 1.0
    ey = PAD + (1 - (e - lo) / span) * top_h
    dd_top = PAD + inner_h * SPLIT + 8
    dd_h = inner_h * (1 - SPLIT) - 8
    deepest = min(float(d.min()), -1e-9)
    dy = dd_top + d / deepest * dd_h
    area = _path(xs, dy) + f" L{xs[-1]:.1f},{dd_top:.1f} L{xs[0]:.1f},{dd_top:.1f} Z"
    text = 'font-family="sans-serif" font-size="11" fill="#444"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{PAD}" y="{PAD - 20}" font-family="sans-serif" font-size="14" fill="#111">{escape(title)}</text>',
        f'<text x="{PAD}" y="{PAD - 6}" {text}>equity {int(equity[-1]):,} KRW '
        f'(max {int(hi):,}, min {int(lo):,})</text>',
        f'<path d="{_path(xs, ey)}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>',
        f'<path d="{area}" fill="#d73a49" fill-opacity="0.35" stroke="#d73a49" stroke-width="0.8"/>',
        f'<text x="{PAD}" y="{dd_top - 2}" {text}>drawdown (deepest {deepest * 100:.1f}%)</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 16}" {text}>{escape(str(dates[0]))}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end" {text}>{escape(str(dates[-1]))}</text>',
        "</svg>",
    ]
    return "\n".join(parts)
