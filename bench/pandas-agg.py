#!/usr/bin/env python3
"""The pandas way, for the benchmark: load the whole CSV with pd.read_csv, then the same aggregates.

    python3 bench/pandas-agg.py <file.csv>

This is how the Python program that salesgrid replaces worked: the whole file in one DataFrame.
Money is summed as whole cents in int64 (the prices have 2 decimals), so the totals can be
compared with the exact ones; a float sum of 5M revenues would be off by cents.
Prints one JSON object on stdout. The caller times the whole process itself.
"""

import json
import resource
import sys
import time

import pandas as pd


def cents_to_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python3 bench/pandas-agg.py <file.csv>", file=sys.stderr)
        return 2
    path = sys.argv[1]
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    price_cents = (df["Unit Price"] * 100).round().astype("int64")
    units = df["Units Sold"].astype("int64")
    df["revenue_cents"] = units * price_cents
    df["month"] = pd.to_datetime(df["Order Date"], format="%m/%d/%Y").dt.strftime("%Y-%m")
    monthly = (
        df.groupby("month", sort=True)
        .agg(rows=("revenue_cents", "size"), units=("Units Sold", "sum"), revenue=("revenue_cents", "sum"))
        .reset_index()
    )
    rows = len(df)
    totals = {
        "rows": int(rows),
        "units": str(int(units.sum())),
        "revenue": cents_to_text(int(df["revenue_cents"].sum())),
        "minPrice": cents_to_text(int(price_cents.min())),
        "maxPrice": cents_to_text(int(price_cents.max())),
        "priceSum": cents_to_text(int(price_cents.sum())),
    }
    elapsed_ms = (time.perf_counter() - t0) * 1000
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "engine": "pandas",
        "pandas": pd.__version__,
        "file": path,
        "queryMs": round(elapsed_ms),
        "totals": totals,
        "monthly": [
            {"month": m, "rows": int(r), "units": str(int(u)), "revenue": cents_to_text(int(v))}
            for m, r, u, v in zip(monthly["month"], monthly["rows"], monthly["units"], monthly["revenue"])
        ],
        "usage": {
            "maxRssKb": int(usage.ru_maxrss),
            "userMs": round(usage.ru_utime * 1000),
            "systemMs": round(usage.ru_stime * 1000),
        },
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
