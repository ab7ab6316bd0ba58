#!/usr/bin/env python3
"""Machine code of vkattn's pipelines on an NVIDIA GPU, from the persistent pipeline cache.

Usage: scripts/nv_sass.py CACHE_FILE OUT_DIR [--arch SM90]

CACHE_FILE is vkattn's pipeline cache (XDG_CACHE_HOME/vkattn/pipelines-<vendor>-<device>.bin),
written after a run on the NVIDIA driver. Best effort, for performance work only: the driver's
cache format is undocumented, and this reads what driver 580 wrote on an H100:
  - the driver's cache data holds one zstd frame per pipeline (magic 28 b5 2f fd);
  - a frame decompresses to a blob that starts "NVDANVVMNVuc"; at byte 0x48 of it three
    little-endian uint32 (type 1, size, offset) locate the machine code, at offset + 8.
Each pipeline's code goes to OUT_DIR/pipelineN.code. Where `nvdisasm` is on PATH (CUDA's
toolkit), it also writes pipelineN.sass (`nvdisasm -b SM90 -hex`) and prints how often the
instructions that matter to the attention kernels occur. Needs the `zstd` command.
"""
import argparse
import collections
import pathlib
import shutil
import struct
import subprocess
import sys

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BLOB_MAGIC = b"NVDANVVMNVuc"
WATCHED = ["HMMA", "LDSM", "MOVM", "MUFU", "SHFL", "BAR", "LDG", "LDGSTS", "DEPBAR", "STG", "LDS", "STS", "FMUL",
           "FADD", "FFMA", "FMNMX", "F2FP", "IMAD", "ISETP", "BRA", "LDL", "STL"]


def frames(data):
    at = data.find(ZSTD_MAGIC)
    while at >= 0:
        yield at
        at = data.find(ZSTD_MAGIC, at + 4)


def code_sections(cache):
    """The machine code of each pipeline in the cache, in the order the driver stored them."""
    for start in frames(cache):
        # zstd stops at the end of the frame; the cache's bytes after it make it exit non-zero.
        blob = subprocess.run(["zstd", "-d", "-c", "-q"], input=cache[start:], capture_output=True).stdout
        if not blob.startswith(BLOB_MAGIC) or len(blob) < 0x54:
            continue
        kind, size, offset = struct.unpack_from("<III", blob, 0x48)
        if kind == 1 and 8 + offset + size <= len(blob):
            yield blob[8 + offset:8 + offset + size]


def opcode_counts(sass_text):
    counts = collections.Counter()
    for line in sass_text.splitlines():
        parts = line.split("*/", 1)
        if not line.lstrip().startswith("/*") or len(parts) < 2:
            continue
        words = parts[1].split()
        if not words or words[0].startswith("/*"):
            continue
        op = words[1] if words[0].startswith("@") and len(words) > 1 else words[0]
        counts[op.split(".")[0].rstrip(";")] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache")
    parser.add_argument("out")
    parser.add_argument("--arch", default="SM90", help="nvdisasm's -b value (SM90 for the H100)")
    args = parser.parse_args()
    if shutil.which("zstd") is None:
        sys.exit("nv_sass.py: needs the zstd command")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = pathlib.Path(args.cache).read_bytes()
    disasm = shutil.which("nvdisasm")
    found = 0
    for n, code in enumerate(code_sections(cache)):
        found += 1
        path = out / f"pipeline{n}.code"
        path.write_bytes(code)
        line = f"pipeline{n}: {len(code) // 16} instructions"
        if disasm:
            sass = subprocess.run([disasm, "-b", args.arch, "-hex", str(path)], capture_output=True, text=True).stdout
            (out / f"pipeline{n}.sass").write_text(sass)
            counts = opcode_counts(sass)
            line += " | " + " ".join(f"{op} {counts[op]}" for op in WATCHED if counts[op])
        print(line)
    if found == 0:
        sys.exit(f"nv_sass.py: no pipeline code found in {args.cache} (not written by NVIDIA's driver?)")


if __name__ == "__main__":
    main()
