#!/usr/bin/env python3
"""Render a Grafana dashboard JSON against a Prometheus, as a PNG.

For checking the dashboard without a Grafana (the picture in docs/operations.md
was made this way): every panel's queries run against Prometheus's HTTP API and
are drawn where the panel's gridPos puts them. Needs matplotlib.

    python3 deploy/grafana/preview.py --prometheus http://127.0.0.1:9090 \
        --minutes 15 --out docs/img/dashboard.png
"""
import argparse
import datetime
import json
import re
import time
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

UNIT_SCALE = {"s": ("ms", 1000.0), "percentunit": ("%", 100.0), "bytes": ("MiB", 1 / 1048576),
              "reqps": ("req/s", 1.0), "ops": ("ops/s", 1.0), "short": ("", 1.0)}


def query_range(prom, expr, start, end, step):
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, metric):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt or "") or str(metric)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--dashboard", default="deploy/grafana/dashboards/codezest-auth.json")
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--out", default="dashboard.png")
    args = ap.parse_args()
    dash = json.load(open(args.dashboard))
    end = time.time()
    start = end - args.minutes * 60
    step = max(5, args.minutes * 60 // 200)
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = 0.42
    fig = plt.figure(figsize=(24, rows * unit_h), facecolor="#111217")
    fig.suptitle(f'{dash["title"]} — last {args.minutes} min (rendered from the dashboard JSON)',
                 color="white", fontsize=16, y=0.998)
    for p in panels:
        g = p["gridPos"]
        left, width = g["x"] / 24 + 0.004, g["w"] / 24 - 0.008
        bottom = 1 - (g["y"] + g["h"]) / rows + 0.004
        height = g["h"] / rows - (0.022 if p["type"] != "row" else 0.004)
        if p["type"] == "row":
            fig.text(0.005, 1 - (g["y"] + 0.5) / rows, p["title"], color="#ccccdc", fontsize=13, weight="bold")
            continue
        ax = fig.add_axes([left, bottom, width, height], facecolor="#181b1f")
        ax.set_title(p["title"], color="#ccccdc", fontsize=10, loc="left")
        for spine in ax.spines.values():
            spine.set_color("#2c3235")
        ax.tick_params(colors="#8e8e8e", labelsize=7)
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        label, scale = UNIT_SCALE.get(unit, (unit or "", 1.0))
        series = []
        for t in p.get("targets", []):
            for r in query_range(args.prometheus, t["expr"], start, end, step):
                xs = [datetime.datetime.fromtimestamp(float(v[0])) for v in r["values"]]
                ys = [float(v[1]) * scale if v[1] not in ("NaN", "+Inf", "-Inf") else float("nan") for v in r["values"]]
                series.append((legend(t.get("legendFormat"), r["metric"]), xs, ys))
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            values = [s[2][-1] for s in series if s[2]]
            text = "no data" if not values else f"{values[-1]:,.3g} {label}".strip()
            ax.text(0.5, 0.45, text, color="#73bf69", fontsize=22, ha="center", va="center", transform=ax.transAxes)
            continue
        for name, xs, ys in sorted(series, key=lambda s: s[0])[:12]:
            ax.plot(xs, ys, linewidth=1.2, label=name[:48])
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        if label:
            ax.set_ylabel(label, color="#8e8e8e", fontsize=8)
        if series:
            ax.legend(fontsize=6, loc="upper left", facecolor="#181b1f", edgecolor="#2c3235", labelcolor="#ccccdc")
        else:
            ax.text(0.5, 0.5, "no data", color="#8e8e8e", ha="center", transform=ax.transAxes)
    fig.savefig(args.out, dpi=70, facecolor=fig.get_facecolor())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
