"""Draws the end-to-end latency chart from `allot-loadtest e2e` reports: p50 and p99 of
event -> availability read back (allot) and of the raw passthrough, against the event rate,
one point per report (log-log).

usage: python3 loadtest/charts/latency_chart.py OUT.svg REPORT.json [REPORT.json ...]

Make the reports with e.g. `allot-loadtest e2e --latency-rate R --report target/e2e-R.json`
for several R. Plain SVG, no dependencies.
"""
import json
import math
import sys


def points(reports):
    series = {}
    for path in reports:
        with open(path) as f:
            r = json.load(f)
        p = r.get("latency_passthrough")
        if p:
            rate = p["achieved_rate"]
            series.setdefault("raw passthrough", []).append((rate, p["consume"]))
        for i, l in enumerate(r.get("latency") or []):
            name = f"allot, {l['coalesce_ms']} ms bound"
            if l.get("consume"):
                series.setdefault(name, []).append((l["achieved_rate"], l["consume"]))
            # one input hop per report (each allot run measures its own)
            if i == 0 and l.get("input_hop"):
                series.setdefault("input hop (one consume)", []).append(
                    (l["achieved_rate"], l["input_hop"])
                )
    return {k: sorted(v, key=lambda x: x[0]) for k, v in series.items()}


COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, reports = sys.argv[1], sys.argv[2:]
    series = points(reports)
    if not series:
        sys.exit("no latency figures in the reports")
    rates = [r for s in series.values() for r, _ in s]
    xlo, xhi = 10 ** math.floor(math.log10(min(rates))), 10 ** math.ceil(math.log10(max(rates)))
    if xlo == xhi:
        xhi *= 10
    ylo, yhi = 1.0, 10_000.0
    width, height, left, top, right, bottom = 900, 520, 80, 50, 260, 60
    pw, ph = width - left - right, height - top - bottom

    def x(v):
        return left + pw * (math.log10(v) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

    def y(v):
        v = min(max(v, ylo), yhi)
        return top + ph * (1 - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="25" font-size="15">Event → availability read back, p50 (solid) and '
        "p99 (dashed), ms</text>",
    ]
    e = 0
    while 10**e <= yhi:
        v = 10**e
        svg.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        e += 1
    e = round(math.log10(xlo))
    while 10**e <= xhi:
        v = 10**e
        svg.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top}" y2="{top + ph}" stroke="#ddd"/>')
        svg.append(f'<text x="{x(v):.1f}" y="{top + ph + 18}" text-anchor="middle">{v:,.0f}</text>')
        e += 1
    svg.append(f'<text x="{left + pw / 2}" y="{height - 15}" text-anchor="middle">events per second</text>')
    goal = 25
    svg.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(goal):.1f}" y2="{y(goal):.1f}" '
               'stroke="#c00" stroke-dasharray="2,3"/>')
    svg.append(f'<text x="{left + pw - 4}" y="{y(goal) - 4:.1f}" text-anchor="end" fill="#c00">'
               "goal p99 ≤ 25 ms</text>")
    for i, (name, pts) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        for key, dash in (("p50_ms", ""), ("p99_ms", ' stroke-dasharray="6,4"')):
            path = " ".join(f"{x(r):.1f},{y(max(p[key], 1)):.1f}" for r, p in pts)
            svg.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            for r, p in pts:
                svg.append(f'<circle cx="{x(r):.1f}" cy="{y(max(p[key], 1)):.1f}" r="3" fill="{c}"/>')
        ly = top + 20 + 22 * i
        svg.append(f'<line x1="{left + pw + 20}" x2="{left + pw + 45}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        svg.append(f'<text x="{left + pw + 52}" y="{ly + 4}">{name}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {out} ({sum(len(v) for v in series.values())} points)")


if __name__ == "__main__":
    main()
