"""Bar charts as SVG rendered on the server: no script, no inline style, so the page keeps its
strict Content-Security-Policy. Labels are escaped like every other value."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 240
BAR_WIDTH = 360


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int, str]]) -> Markup:
    """One horizontal bar per (label, count, css class); the longest bar is the largest count.
    The chart has a title and a description for screen readers, and each bar its number."""
    if not rows:
        return Markup("")
    largest = max(count for _, count, _ in rows) or 1
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + 80
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}: '
        + escape(", ".join(f"{label} {count}" for label, count, _ in rows))
        + "</title>",
    ]
    for i, (label, count, css) in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        length = max(2, round(BAR_WIDTH * count / largest)) if count else 0
        text_y = y + BAR_HEIGHT - 6
        parts += [
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{text_y}" '
            f'text-anchor="end">{escape(label)}</text>',
            f'<rect class="bar {escape(css)}" x="{LABEL_WIDTH}" y="{y}" '
            f'width="{length}" height="{BAR_HEIGHT}" rx="3"></rect>',
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6}" y="{text_y}">'
            f"{count:,}</text>",
        ]
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped above
