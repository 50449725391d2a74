"""The run report's bar charts, written as SVG by hand: no plotting library, nothing to import.

Two kinds of chart, both pure functions from numbers and words to an ``<svg>`` string for inlining:

- :func:`hbars`: horizontal bars, one per label (first at the top), stacked when given several
  series, the total (or a note) written at the end of each bar;
- :func:`window_bars`: claims per claim window as stacked columns, with the claims to date as a
  line and the allocation as a dashed rule.

Text is measured with the advance widths of DejaVu Sans (the first font asked for), so labels are
never cut off and wrapped labels keep their space; a reader without that font gets Verdana or the
system's sans-serif, which are no wider. Axes count families, so ticks are whole numbers in steps of
1, 2 or 5 times a power of ten. Every text is XML-escaped, ids carry the chart's name (a page holds
several charts), and the same input gives the same bytes.
"""

from __future__ import annotations

import html
import math
import textwrap
import unicodedata
from collections.abc import Sequence

__all__ = ["hbars", "text_width", "window_bars"]

FONT = "DejaVu Sans, Verdana, Geneva, sans-serif"
INK, AXIS, GRID = "#1F1F1F", "#555555", "#E0E0E0"
WIDTH = 640  # px: shown at about its size beside its table
LABEL, SMALL, LINE = 13, 12, 16  # font sizes and the height of a line of a wrapped label, px

# DejaVu Sans advance widths, in thousandths of an em (no kerning: within 0.1% on running text)
_CHARS = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~£–—‘’“”…·×é"
_WIDTHS = (318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636,
           636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863,
           748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635,
           615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636,
           337, 636, 838, 636, 500, 1000, 318, 318, 518, 518, 1000, 318, 838, 615)
_ADVANCE = dict(zip(_CHARS, _WIDTHS, strict=True))


def text_width(text: str, size: float) -> float:
    """The width in px of one line of ``text`` at ``size`` px. A character outside the table counts
    as a wide Latin letter (a full em when East Asian wide): over, never under."""
    return size * sum(_ADVANCE.get(c) or (1000 if unicodedata.east_asian_width(c) in "WF" else 700) for c in text) / 1000


def _x(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(v: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (the same bytes for the same chart)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _ticks(top: float, most: int = 6) -> list[int]:
    """Whole-number ticks from 0 to at least ``top`` in steps of 1, 2 or 5 times a power of ten, at
    most ``most`` steps."""
    raw = max(top, 1) / most
    power = 10 ** max(0, math.floor(math.log10(raw)))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(max(top, 1) / step) + 1)]


def _text(x: float, y: float, text: str, *, size: int = SMALL, anchor: str = "start", extra: str = "") -> str:
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    s = "" if size == LABEL else f' font-size="{size}"'
    return f'<text x="{_f(x)}" y="{_f(y)}"{a}{s}{extra}>{_x(text)}</text>'


def _lines(x: float, mid: float, lines: Sequence[str], *, anchor: str) -> str:
    """A label of one or more lines, centred on ``mid``."""
    first = mid - (len(lines) - 1) * LINE / 2 + LABEL * 0.35
    spans = "".join(f'<tspan x="{_f(x)}" y="{_f(first + i * LINE)}">{_x(t)}</tspan>' for i, t in enumerate(lines))
    return f'<text text-anchor="{anchor}">{spans}</text>'


def _legend(x: float, y: float, items: Sequence[tuple[str, str]], *, align: str, name: str) -> tuple[str, float]:
    """Swatches and words in rows, from ``x`` (left) or to ``x`` (right); the drawing and its height."""
    widths = [14 + 6 + text_width(t, SMALL) + 16 for t, _ in items]
    rows: list[list[int]] = [[]]
    room = WIDTH - 20
    for i, w in enumerate(widths):
        if rows[-1] and sum(widths[j] for j in rows[-1]) + w > room:
            rows.append([])
        rows[-1].append(i)
    out = []
    for r, row in enumerate(rows):
        cx = x if align == "left" else x - sum(widths[i] for i in row) + 16
        cy = y + r * 18
        for i in row:
            label, swatch = items[i]
            out.append(swatch.format(x=_f(cx), y=_f(cy - 5), cx=_f(cx + 7), cy=_f(cy), x2=_f(cx + 14), name=name))
            out.append(_text(cx + 20, cy + 4, label))
            cx += widths[i]
    return "".join(out), 18.0 * len(rows)


def _svg(name: str, height: float, body: Sequence[str], defs: str = "") -> str:
    h = _f(height)
    return (f'<svg role="img" aria-labelledby="cap-{name}" class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{h}" viewBox="0 0 {WIDTH} {h}" font-family="{FONT}" font-size="{LABEL}" fill="{INK}">'
            + (f"<defs>{defs}</defs>" if defs else "") + "".join(body) + "</svg>")


def hbars(name: str, labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[int], str | Sequence[str]]], *, xlabel: str,
          notes: Sequence[str] | None = None, wrap: int = 34) -> str:
    """Horizontal bars: one per label, the first at the top; ``stacks`` are (legend, values, colour or
    a colour per bar), stacked left to right; ``notes`` (default: each bar's total) at the bar's end."""
    n = len(labels)
    wrapped = [textwrap.wrap(s, wrap) or [s] for s in labels]
    totals = [sum(int(values[i]) for _, values, _ in stacks) for i in range(n)]
    notes = list(notes) if notes is not None else [f"{t:,}" for t in totals]
    rows = [max(36, LINE * len(w) + 14) for w in wrapped]
    legend_h = 26 if len(stacks) > 1 else 0
    top, plot_h = 8 + legend_h, sum(rows)
    left = max((text_width(line, LABEL) for w in wrapped for line in w), default=0) + 16
    plot_w = WIDTH - left - 14
    room = max((text_width(t, SMALL) for t in notes), default=0) + 10  # the widest note fits right of the longest bar
    longest = max(totals, default=0)
    xmax = max(longest * plot_w / max(plot_w - room, plot_w * 0.2), 1)
    ticks = [t for t in _ticks(xmax) if t <= xmax]
    scale = plot_w / xmax
    base = top + plot_h
    out = [f'<g stroke="{GRID}" stroke-width="1">']
    out += [f'<line x1="{_f(left + t * scale)}" y1="{_f(top)}" x2="{_f(left + t * scale)}" y2="{_f(base)}"/>' for t in ticks]
    out.append("</g>")
    y = float(top)
    for i in range(n):
        bar_h, mid = min(26.0, rows[i] * 0.62), y + rows[i] / 2
        x = float(left)
        for legend, values, colour in stacks:
            v = int(values[i])
            c = colour if isinstance(colour, str) else colour[i]
            if v > 0:
                out.append(f'<rect x="{_f(x)}" y="{_f(mid - bar_h / 2)}" width="{_f(v * scale)}" height="{_f(bar_h)}" fill="{c}">'
                           f'<title>{_x(" ".join(wrapped[i]))}: {v:,} {_x(legend)}</title></rect>')
            x += v * scale
        out.append(_lines(left - 8, mid, wrapped[i], anchor="end"))
        out.append(_text(x + 6, mid + SMALL * 0.35, notes[i]))
        y += rows[i]
    out.append(f'<path d="M{_f(left)} {_f(top)}V{_f(base)}H{_f(left + plot_w)}" fill="none" stroke="{AXIS}"/>')
    out += [f'<line x1="{_f(left + t * scale)}" y1="{_f(base)}" x2="{_f(left + t * scale)}" y2="{_f(base + 4)}" stroke="{AXIS}"/>'
            + _text(left + t * scale, base + 18, f"{t:,}", anchor="middle") for t in ticks]
    out.append(_text(left + plot_w / 2, base + 38, xlabel, size=LABEL, anchor="middle"))
    if len(stacks) > 1:
        swatch = '<rect x="{x}" y="{y}" width="14" height="10" fill="%s"/>'
        items = [(legend, swatch % (c if isinstance(c, str) else c[0])) for legend, _, c in stacks]
        drawn, _ = _legend(WIDTH - 14, 14, items, align="right", name=name)
        out.append(drawn)
    return _svg(name, base + 50, out)


def window_bars(name: str, periods: Sequence[str], series: Sequence[tuple[str, Sequence[int], str, bool]], *,
                to_date: Sequence[int], to_date_colour: str, allocation: int | None, allocation_colour: str) -> str:
    """Claims per claim window: ``series`` are (legend, count per window, colour, hatched), stacked
    upwards (a series of zeros is left out; one series at most is hatched); ``to_date`` the running total drawn as a line; the
    ``allocation`` a dashed rule."""
    n = len(periods)
    shown = [s for s in series if any(s[1])]
    items = [(legend, ('<rect x="{x}" y="{y}" width="14" height="10" fill="url(#{name}-hatch)"/>' if hatched
                       else '<rect x="{x}" y="{y}" width="14" height="10" fill="%s"/>' % colour))
             for legend, _, colour, hatched in shown]
    items.append(("claims to date", f'<line x1="{{x}}" y1="{{cy}}" x2="{{x2}}" y2="{{cy}}" stroke="{to_date_colour}" stroke-width="2"/>'
                                    f'<circle cx="{{cx}}" cy="{{cy}}" r="3.5" fill="{to_date_colour}"/>'))
    if allocation is not None:
        items.append((f"allocation ({allocation:,})", f'<line x1="{{x}}" y1="{{cy}}" x2="{{x2}}" y2="{{cy}}" stroke="{allocation_colour}" '
                                                      'stroke-width="1.6" stroke-dasharray="5 3"/>'))
    key, key_h = _legend(14, 14, items, align="left", name=name)
    left, top = 64.0, 14 + key_h + 8
    plot_w, plot_h = WIDTH - left - 16, 230.0
    base = top + plot_h
    stack_tops = [sum(int(s[1][i]) for s in shown) for i in range(n)]
    ymax = max(max(stack_tops, default=0), max(to_date, default=0), allocation or 0) * 1.15 or 1
    ticks = [t for t in _ticks(ymax) if t <= ymax]
    scale = plot_h / ymax
    pad = max(0, 3 - n) * 0.5  # one or two windows are not drawn as wide as the chart
    units = n + 0.6 + 2 * pad

    def cx(i: int) -> float:
        return left + (i + 0.8 + pad) / units * plot_w

    bar_w = 0.5 / units * plot_w
    out = [f'<g stroke="{GRID}" stroke-width="1">']
    out += [f'<line x1="{_f(left)}" y1="{_f(base - t * scale)}" x2="{_f(left + plot_w)}" y2="{_f(base - t * scale)}"/>' for t in ticks]
    out.append("</g>")
    for i in range(n):
        y = base
        for legend, values, colour, hatched in shown:
            v = int(values[i])
            if v > 0:
                fill = f"url(#{name}-hatch)" if hatched else colour
                out.append(f'<rect x="{_f(cx(i) - bar_w / 2)}" y="{_f(y - v * scale)}" width="{_f(bar_w)}" height="{_f(v * scale)}" '
                           f'fill="{fill}"><title>{_x(periods[i])}: {v:,} {_x(legend)}</title></rect>')
                y -= v * scale
    if n:
        points = " ".join(f"{_f(cx(i))},{_f(base - to_date[i] * scale)}" for i in range(n))
        out.append(f'<polyline points="{points}" fill="none" stroke="{to_date_colour}" stroke-width="2"/>')
        out += [f'<circle cx="{_f(cx(i))}" cy="{_f(base - to_date[i] * scale)}" r="4" fill="{to_date_colour}">'
                f'<title>{_x(periods[i])}: {to_date[i]:,} claims to date</title></circle>' for i in range(n)]
    if allocation is not None:
        y = base - allocation * scale
        out.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="{allocation_colour}" '
                   'stroke-width="1.6" stroke-dasharray="5 3"/>')
    out.append(f'<path d="M{_f(left)} {_f(top)}V{_f(base)}H{_f(left + plot_w)}" fill="none" stroke="{AXIS}"/>')
    out += [f'<line x1="{_f(left - 4)}" y1="{_f(base - t * scale)}" x2="{_f(left)}" y2="{_f(base - t * scale)}" stroke="{AXIS}"/>'
            + _text(left - 8, base - t * scale + SMALL * 0.35, f"{t:,}", anchor="end") for t in ticks]
    out += [_text(cx(i), base + 18, periods[i], anchor="middle") for i in range(n)]
    out.append(_text(left + plot_w / 2, base + 40, "claim window (period end)", size=LABEL, anchor="middle"))
    mid = top + plot_h / 2
    out.append(_text(18, mid, "families claimed", size=LABEL, anchor="middle", extra=f' transform="rotate(-90 18 {_f(mid)})"'))
    out.append(key)
    hatched = next((s for s in shown if s[3]), None)
    hatch = "" if hatched is None else (
        f'<pattern id="{name}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{hatched[2]}"/><line x1="0" y1="0" x2="0" y2="6" stroke="white" stroke-width="2"/></pattern>')
    return _svg(name, base + 52, out, hatch)
