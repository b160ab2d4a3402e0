"""Draws BENCHMARKS.md's codec chart from criterion's results: ns per event of the fast,
serde_avro_fast and generic paths, encode and decode, per record type (log scale).

usage: python3 loadtest/charts/codec_chart.py [target/criterion] [loadtest/charts/codec.svg]

Run `cargo bench -p allot-schemas --bench codec` first. Plain SVG, no dependencies.
"""
import json
import math
import os
import sys

CRITERION = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
OUT = sys.argv[2] if len(sys.argv) > 2 else "loadtest/charts/codec.svg"
RECORDS = [
    "pos_sales 1 line (92 bytes)",
    "pos_sales 3 lines (122 bytes)",
    "orders 1 line (131 bytes)",
    "orders 3 lines (197 bytes)",
    "inventory_adjustments (77 bytes)",
    "availability 2 channels x 2 locations (220 bytes)",
    "availability 3 channels x 3 locations (396 bytes)",
]
SERIES = [
    ("encode_fast", "encode, fast", "#1b9e77"),
    ("encode_serde_avro_fast", "encode, serde_avro_fast", "#66c2a5"),
    ("encode_generic", "encode, apache-avro Value", "#b3e2cd"),
    ("decode_fast", "decode, fast", "#d95f02"),
    ("decode_serde_avro_fast", "decode, serde_avro_fast", "#fc8d62"),
    ("decode_generic", "decode, apache-avro Value", "#fdcdac"),
]


def median_ns(record, bench):
    path = os.path.join(CRITERION, record, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


def main():
    data = [[median_ns(r, b) for b, _, _ in SERIES] for r in RECORDS]
    if all(v is None for row in data for v in row):
        sys.exit(f"no criterion results under {CRITERION}; run the codec bench first")
    lo, hi = 10.0, 100_000.0
    width, row_h, bar_h, left, top = 1100, 110, 14, 300, 60
    height = top + row_h * len(RECORDS) + 70

    def x(ns):
        return left + (math.log10(ns) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (width - left - 30)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">Avro codecs: ns per event (log scale, lower is better)</text>']
    for tick in [10, 100, 1_000, 10_000, 100_000]:
        out.append(f'<line x1="{x(tick):.1f}" y1="{top - 10}" x2="{x(tick):.1f}" y2="{height - 60}" stroke="#ddd"/>')
        label = f"{tick // 1000} µs" if tick >= 1000 else f"{tick} ns"
        out.append(f'<text x="{x(tick):.1f}" y="{height - 45}" text-anchor="middle">{label}</text>')
    one_us = x(1000)
    out.append(f'<line x1="{one_us:.1f}" y1="{top - 10}" x2="{one_us:.1f}" y2="{height - 60}" stroke="#c00" stroke-dasharray="4 3"/>')
    for i, (record, row) in enumerate(zip(RECORDS, data)):
        y0 = top + i * row_h
        out.append(f'<text x="{left - 10}" y="{y0 + 3 * bar_h}" text-anchor="end">{record}</text>')
        for j, ((_, _, color), ns) in enumerate(zip(SERIES, row)):
            if ns is None:
                continue
            y = y0 + j * (bar_h + 2)
            out.append(f'<rect x="{left}" y="{y}" width="{max(x(ns) - left, 1):.1f}" height="{bar_h}" fill="{color}"/>')
            out.append(f'<text x="{x(ns) + 4:.1f}" y="{y + bar_h - 3}" font-size="10">{ns:,.0f}</text>')
    lx = left
    for _, label, color in SERIES:
        out.append(f'<rect x="{lx}" y="{height - 30}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 21}" font-size="11">{label}</text>')
        lx += 135 if len(label) < 14 else 175
    out.append("</svg>")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
