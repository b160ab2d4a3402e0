"""Draws the sourcing speed-up chart from runs of the sourcing bench's pairs: for each run,
the ratio of every pair (one 20,000-order batch on 1 rayon thread, one on 2), their
quartiles as a box, min and max as whiskers, the median as a bar, and the issue's goal
(1.8x) as a dashed line.

usage: python3 loadtest/charts/speedup_chart.py OUT.svg RUN.txt [RUN.txt ...]

Make the runs with e.g.
`SOURCING_PAIRS=30 cargo bench -p allot-pipeline --bench sourcing -- nothing > RUN.txt 2>&1`.
Plain SVG, no dependencies.
"""
import re
import statistics
import sys

PAIR = re.compile(r"^pair\s+\d+: .* speed-up ([0-9.]+)x$")
GOAL = 1.8
W, H = 760, 380
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 50


def ratios(path):
    with open(path) as f:
        found = [float(m.group(1)) for m in map(PAIR.match, f.read().splitlines()) if m]
    if not found:
        sys.exit(f"{path}: no 'pair N: ... speed-up X.XXx' lines; is it the bench's output?")
    return sorted(found)


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    runs = [ratios(p) for p in paths]
    lo = min(1.0, min(min(r) for r in runs))
    hi = max(2.2, max(max(r) for r in runs))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def y(v):
        return TOP + plot_h * (hi - v) / (hi - lo)

    step = plot_w / len(runs)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">Sourcing: speed-up '
        f"from 1 to 2 rayon threads, {sum(map(len, runs))} pairs of 20,000-order batches</text>",
    ]
    tick = round(lo, 1)
    while tick <= hi + 1e-9:
        svg.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:.1f}x</text>'
        )
        tick += 0.2
    svg.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(GOAL):.1f}" y2="{y(GOAL):.1f}" '
        f'stroke="#d95f02" stroke-dasharray="6 4"/>'
    )
    for i, r in enumerate(runs):
        cx = LEFT + step * (i + 0.5)
        q1, med, q3 = quartiles(r)
        half = min(18, step / 3)
        svg.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(r[0]):.1f}" y2="{y(r[-1]):.1f}" '
            f'stroke="#555"/>'
        )
        svg.append(
            f'<rect x="{cx - half:.1f}" y="{y(q3):.1f}" width="{2 * half:.1f}" '
            f'height="{y(q1) - y(q3):.1f}" fill="#b3dccf" stroke="#1b9e77"/>'
        )
        svg.append(
            f'<line x1="{cx - half:.1f}" x2="{cx + half:.1f}" y1="{y(med):.1f}" '
            f'y2="{y(med):.1f}" stroke="#1b9e77" stroke-width="3"/>'
        )
        for v in r:
            svg.append(f'<circle cx="{cx + half + 5:.1f}" cy="{y(v):.1f}" r="1.6" fill="#7570b3"/>')
        svg.append(
            f'<text x="{cx:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">run {i + 1}</text>'
            f'<text x="{cx:.1f}" y="{H - BOTTOM + 31}" text-anchor="middle">{med:.2f}x</text>'
        )
    svg.append(
        f'<text x="{LEFT}" y="{H - 6}">box: quartiles of the pairs; bar: median (under the '
        f"run); whiskers: min, max; dots: pairs; dashed: goal {GOAL}x</text>"
    )
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
