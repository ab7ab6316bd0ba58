#!/usr/bin/env python3
"""Times PyTorch SDPA (FlashAttention-2 backend) on the shapes of a vkattn-bench preset and prints
one CSV line per case, named like vkattn-bench's benchmarks, with SDPA's cuDNN backend as a
second column (and the memory-efficient backend as a third where FlashAttention-2 refuses the case,
e.g. Dk = 192 with Dv = 128), with the same FLOP formula
(2*B*H*S*S*(Dk+Dv) forward, i.e. 4*B*H*S*S*D, halved when causal; 2.5x for bwd, 3.5x for fwdbwd).

  python3 bench/sdpa_compare.py --preset=fa2 [--filter=REGEX] [--passes=fwd,bwd,fwdbwd]
  python3 bench/sdpa_compare.py --shapes=4x32x4096x64,4x16x4096x192x128 [...]   (vkattn-bench --shapes' cases:
                                                                           fwd and fwdbwd, no mask and causal)
  python3 bench/sdpa_compare.py --preset=decode   (GQA 32:4 decode, bottom-right causal, with K/V GB/s)
  python3 bench/sdpa_compare.py --decode=4x32x8x1x8192x128[,...]   (vkattn-bench --decode's cases:
      B, Hq, Hkv, Sq, Sk, D)

Needs torch with CUDA; CI never runs it. Median of 20 runs timed with CUDA events.
"""
import argparse
import re
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def fa2_cases():
    for d in (64, 128, 256):
        for causal in (False, True):
            s = 512
            while s <= 16384:
                yield 16384 // s, 2048 // d, s, d, d, causal
                s *= 2


def short_gpu_cases():
    for d in (64, 128):
        for causal in (False, True):
            yield 4, 16, 4096, d, d, causal


def compare_cases():
    for b, h, s, d in ((4, 16, 4096, 64), (4, 16, 4096, 128), (1, 16, 16384, 128), (16, 16, 1024, 64)):
        for causal in (False, True):
            yield b, h, s, d, d, causal


def shape_cases(text):
    """(B, H, S, Dk, Dv, causal) for BxHxSxD or BxHxSxDkxDv items."""
    for item in text.split(","):
        m = re.fullmatch(r"([0-9]+)x([0-9]+)x([0-9]+)x([0-9]+)(?:x([0-9]+))?", item)
        if not m or not all(0 < int(g) <= 1 << 28 for g in m.groups() if g is not None):
            raise SystemExit(f'--shapes: "{item}" is not BxHxSxD or BxHxSxDkxDv (4 or 5 integers from 1 to '
                             f'{1 << 28}, e.g. 4x16x4096x64 or 4x16x4096x192x128)')
        b, h, s, d = map(int, m.group(1, 2, 3, 4))
        for causal in (False, True):
            yield b, h, s, d, int(m.group(5) or d), causal


def decode_cases():
    """vkattn-bench --preset=decode's contiguous cases: (B, Hq, Hkv, Sq, Sk, D), bottom-right causal."""
    for b in (1, 16):
        for sq in (1, 2, 4, 8):
            for sk in (1024, 4096, 8192, 16384, 32768):
                yield b, 32, 4, sq, sk, 128


def decode_shape_cases(text):
    """vkattn-bench --decode's contiguous cases."""
    for item in text.split(","):
        m = re.fullmatch(r"([0-9]+)x([0-9]+)x([0-9]+)x([0-9]+)x([0-9]+)x([0-9]+)", item)
        if not m or not all(0 < int(g) <= 1 << 28 for g in m.groups()):
            raise SystemExit(f'--decode: "{item}" is not BxHqxHkvxSqxSkxD (six integers from 1 to {1 << 28}, '
                             'e.g. 4x32x8x1x8192x128)')
        b, hq, hkv, sq, sk, d = map(int, m.groups())
        if hq % hkv:
            raise SystemExit(f'--decode: "{item}": Hq = {hq} is not a multiple of Hkv = {hkv}')
        yield b, hq, hkv, sq, sk, d


def time_decode(filt, cases):
    """GQA decode with bottom-right causal (causal_lower_right), K/V read once per KV head
    (enable_gqa); SDPA picks its backend among FlashAttention-2, memory-efficient and cuDNN."""
    from torch.nn.attention.bias import causal_lower_right
    print("name,ms,TFLOP/s,KV_GB/s")
    for b, hq, hkv, sq, sk, d in cases:
        name = f"fwd/f16/causal_br/b{b}_h{hq}x{hkv}_sq{sq}_sk{sk}_d{d}"
        if not re.search(filt, name):
            continue
        q = torch.randn(b, hq, sq, d, device="cuda", dtype=torch.float16)
        k, v = (torch.randn(b, hkv, sk, d, device="cuda", dtype=torch.float16) for _ in range(2))
        mask = causal_lower_right(sq, sk)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]):
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True))
        pairs = sum(max(0, min(sk, i + sk - sq + 1)) for i in range(sq))  # rows before the cache see none
        flops = 4 * b * hq * d * pairs
        kv_bytes = 2 * b * hkv * sk * d * 2
        print(f"{name},{ms:.4f},{flops / ms / 1e9:.3f},{kv_bytes / ms / 1e6:.1f}", flush=True)
        del q, k, v


def median_ms(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1))
    times.sort()
    return times[len(times) // 2]


def time_sdpa(backend, p, q, k, v, causal):
    """Median ms of one pass (fwd, bwd or fwdbwd) on one SDPA backend; None where the backend
    refuses the case (cuDNN is missing from some torch builds)."""
    try:
        with sdpa_kernel(backend):
            if p == "fwd":
                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            else:
                o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                do = torch.randn_like(o)
                if p == "bwd":
                    fn = lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True)
                else:
                    fn = lambda: torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                                                     (q, k, v), do)
            return median_ms(fn)
    except RuntimeError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fa2", choices=["fa2", "short", "compare", "decode"])
    ap.add_argument("--shapes", default="", help="BxHxSxD[xDv][,...] instead of a preset")
    ap.add_argument("--decode", default="", help="BxHqxHkvxSqxSkxD[,...]: decode cases instead of a preset")
    ap.add_argument("--filter", default=".")
    ap.add_argument("--passes", default=None, help="default fwd,bwd,fwdbwd; with --shapes fwd,fwdbwd")
    ap.add_argument("--dtype", default="f16", choices=["f16", "bf16"], help="storage (vkattn-bench --dtype)")
    args = ap.parse_args()
    if args.passes is None:
        args.passes = "fwd,fwdbwd" if args.shapes else "fwd,bwd,fwdbwd"
    decode = args.decode or (args.preset == "decode" and not args.shapes)
    if args.decode and (args.shapes or "--preset" in " ".join(sys.argv)):
        raise SystemExit("sdpa_compare: give one of --preset, --shapes and --decode")
    if decode and args.dtype != "f16":
        raise SystemExit(f"sdpa_compare: decode cases are fp16 (vkattn-bench's decode cases), not --dtype={args.dtype}")
    if args.decode:
        return time_decode(args.filter, list(decode_shape_cases(args.decode)))
    if decode:
        return time_decode(args.filter, decode_cases())
    if args.shapes:
        cases = list(shape_cases(args.shapes))
    else:
        cases = {"fa2": fa2_cases, "short": short_gpu_cases, "compare": compare_cases}[args.preset]()
    # FlashAttention-2 needs V's head dim equal to Q's; where it refuses (e.g. 192 / 128), the
    # memory-efficient backend's time is the third column.
    print("name,ms,TFLOP/s,cudnn_ms,cudnn_TFLOP/s,efficient_ms,efficient_TFLOP/s")
    for b, h, s, d, dv, causal in cases:
        for p in args.passes.split(","):
            name = (f"{p}/{args.dtype}/{'causal_br' if causal else 'nomask'}/b{b}_h{h}x{h}_sq{s}_sk{s}_d{d}"
                    + (f"_dv{dv}" if dv != d else ""))
            if not re.search(args.filter, name):
                continue
            torch_dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
            q, k, v = (torch.randn(b, h, s, width, device="cuda", dtype=torch_dtype, requires_grad=(p != "fwd"))
                       for width in (d, d, dv))
            times = [time_sdpa(backend, p, q, k, v, causal)
                     for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION)]
            times.append(time_sdpa(SDPBackend.EFFICIENT_ATTENTION, p, q, k, v, causal) if times[0] is None else None)
            # 2 * B * H * S^2 * (Dk + Dv): 4 * B * H * S^2 * D where Dk = Dv = D
            flops = 2 * b * h * s * s * (d + dv) / (2 if causal else 1) * {"fwd": 1, "bwd": 2.5, "fwdbwd": 3.5}[p]
            cols = [f"{ms:.3f},{flops / ms / 1e9:.1f}" if ms else "n/a,n/a" for ms in times]
            print(f"{name},{','.join(cols)}", flush=True)
            del q, k, v


if __name__ == "__main__":
    main()
