#!/usr/bin/env python3
"""Joins vkattn-bench's CSV (OUT/vkattn.csv, median rows) with sdpa_compare.py's (OUT/sdpa.csv)
into OUT/compare.md: both medians, TFLOP/s from one formula (2*B*H*S^2*(Dk+Dv), i.e. 4*B*H*S^2*D,
halved when causal, x3.5 for fwd+bwd) and the time ratios SDPA / vkattn (>= 1 means vkattn is at
least as fast), for SDPA's FlashAttention-2 backend and, as a second column, its cuDNN backend.
Where FlashAttention-2 refused a case (Dv != Dk), the memory-efficient backend's time stands in the
FA2 columns, marked "(FA2 refused: memory-efficient)".

  python3 bench/compare_table.py OUT
"""
import csv
import re
import sys


def decode_table(out, sdpa_rows, vk_rows):
    """--preset=decode: K/V GB/s of both, vkattn's fraction of the copy bandwidth, time ratio."""
    sdpa = {row["name"]: row for row in sdpa_rows}
    table = ["| case | vkattn ms | SDPA ms | vkattn KV GB/s | SDPA KV GB/s | vkattn of copy | SDPA / vkattn time | "
             "vkattn variant |", "|---|---|---|---|---|---|---|---|"]
    for row in vk_rows:
        if not row["name"].endswith("_median"):
            continue
        key = row["name"].split("/manual_time")[0]
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row.get("time_unit") or "ns"]
        ms = float(row["real_time"]) * scale
        kv, of_copy = float(row.get("KV_GB/s") or 0), float(row.get("of_copy") or 0)
        ref = sdpa.get(key)  # paged cases have none: SDPA has no paged cache
        ref_ms = f"{float(ref['ms']):.4f}" if ref else "(no SDPA)"
        ref_kv = ref["KV_GB/s"] if ref else ""
        ratio = f"{float(ref['ms']) / ms:.3f}x" if ref else ""
        table.append(f"| {key} | {ms:.4f} | {ref_ms} | {kv:.1f} | {ref_kv} | {of_copy:.3f} | {ratio} | "
                     f"{row.get('label', '')} |")
    open(f"{out}/compare.md", "w").write("\n".join(table) + "\n")
    print("\n".join(table))


def main():
    out = sys.argv[1]
    sdpa_rows = list(csv.DictReader(open(f"{out}/sdpa.csv")))
    lines = open(f"{out}/vkattn.csv").read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name,"))
    if sdpa_rows and "KV_GB/s" in sdpa_rows[0]:
        return decode_table(out, sdpa_rows, list(csv.DictReader(lines[start:])))
    sdpa = {row["name"]: float(row["ms"]) for row in sdpa_rows if row["ms"] != "n/a"}
    cudnn = {row["name"]: float(row["cudnn_ms"]) for row in sdpa_rows if row.get("cudnn_ms", "n/a") != "n/a"}
    # Where FlashAttention-2 refused the case (Dv != Dk), the memory-efficient backend stands in, marked.
    efficient = {row["name"]: float(row["efficient_ms"]) for row in sdpa_rows
                 if row.get("efficient_ms", "n/a") != "n/a"}
    table = ["| case | vkattn ms | SDPA FA2 ms | vkattn TFLOP/s | FA2 TFLOP/s | vkattn / FA2 | cuDNN TFLOP/s | "
             "vkattn / cuDNN | vkattn variant |", "|---|---|---|---|---|---|---|---|---|"]
    for row in csv.DictReader(lines[start:]):
        if not row["name"].endswith("_median"):
            continue
        key = row["name"].split("/manual_time")[0]
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row.get("time_unit") or "ns"]
        ms = float(row["real_time"]) * scale
        m = re.match(r"(fwd|fwdbwd)/b?f16/(\w+?)/b(\d+)_h(\d+)x\d+_sq(\d+)_sk\d+_d(\d+)(?:_dv(\d+))?$", key)
        ref, mark = (sdpa.get(key), "") if key in sdpa else (efficient.get(key), " (FA2 refused: memory-efficient)")
        if m is None or (ref is None and key not in cudnn):
            table.append(f"| {key} | {ms:.3f} | (no SDPA time) | | | | | | {row.get('label', '')} |")
            continue
        p, mask = m.group(1), m.group(2)
        b, h, s, d = map(int, m.group(3, 4, 5, 6))
        dv = int(m.group(7) or d)
        flops = 2 * b * h * s * s * (d + dv) / (1 if mask == "nomask" else 2) * (3.5 if p == "fwdbwd" else 1)
        ref_cols = (f"{ref:.3f}{mark} | {flops / ms / 1e9:.1f} | {flops / ref / 1e9:.1f} | {ref / ms:.3f}x" if ref
                    else f"(FA2 refused) | {flops / ms / 1e9:.1f} | | ")
        dnn = (f"{flops / cudnn[key] / 1e9:.1f} | {cudnn[key] / ms:.3f}x" if key in cudnn
               else "(cuDNN refused) | ")
        table.append(f"| {key} | {ms:.3f} | {ref_cols} | {dnn} | {row.get('label', '')} |")
    open(f"{out}/compare.md", "w").write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
