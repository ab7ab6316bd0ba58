// Split-K and GQA packing of both forward kernels (PACK_GQA, ROW_LANES and SPLITS of attn_fwd.comp
// and attn_fwd_cm.comp): the rule that reshapes them for decode (few query rows per KV head) and
// splits rows too long for llvmpipe's loop budget, with its device inputs written down.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

// A problem is decode-shaped when the query rows that share one KV head, group * Sq (group =
// Hq / Hkv), fit one workgroup's rows (kDecodeRows: the scalar kernel's 64 invocations, the
// coopmat kernel's four 16-row fragments) and the keys outnumber the queries kDecodeKeysPerQuery
// times or more (decode, chunked prefill against a cache; not a short self-attention). It then
// runs with PACK_GQA (group > 1: the group's query heads share the workgroup, so each K/V tile is
// read once per KV head), key lanes (scalar: ROW_LANES = 64 / rows invocations per row; coopmat:
// the subgroups the rows leave free, fwd_tiles) and split-K.
inline constexpr std::int64_t kDecodeRows = 64;
inline constexpr std::int64_t kDecodeKeysPerQuery = 4;
bool decode_shaped(const Problem& p);

// Workgroups the automatic split aims for, per compute unit (DeviceInfo::compute_units;
// kUnknownComputeUnits where the device does not say); each split keeps at least
// kMinTilesPerSplit key tiles.
// - coopmat kernel: about kCoopmatWorkgroupsPerUnit, the split count rounded down to a power of
//   two. Measured on the H100 (bench/RESULTS_H100.md, twenty-fourth session; GQA 32:4, D = 128,
//   coopmat_khr: four subgroups of 228 registers, so two workgroups fit a multiprocessor): about
//   256 workgroups in all was fastest at batch 1 (64 splits: 40.6 us at Sk = 32k against 55.1 us
//   for 256 splits and 45.4 for 32) and at batch 16 (4 splits: 0.358 ms against 0.383 for 32).
//   More splits leave each workgroup one or two key tiles, whose load latency nothing hides, and
//   give the merge more parts to read.
// - scalar kernel (64-invocation workgroups; not measured again): kScalarWorkgroupsPerUnit,
//   rounded up, as before.
// - coopmat kernel, 32 or more packed rows per workgroup (Sq >= 4 at GQA 8): one workgroup per
//   unit (kCoopmatWideWorkgroupsPerUnit) where two would leave a split fewer than
//   kCoopmatWideSplitTiles key tiles. Such a split writes partial O's of many rows for few keys
//   (at 64 rows and 512 keys a quarter of the bytes it reads) and its setup is a larger share.
//   Measured on the H100 (thirty-third session), batch 1, Sk = 32k: 32 splits against 64 took
//   64.0 against 67.4-67.8 us at Sq = 8 and 50.0 against 51.1-51.7 at Sq = 4; at 8 or 16 rows 64
//   stayed best (38.8 against 43.5 us at Sq = 1), and at batch 16, Sk = 4k (16 tiles per split)
//   one workgroup per unit was 8-9 % slower.
inline constexpr std::uint32_t kCoopmatWorkgroupsPerUnit = 2;
inline constexpr std::uint32_t kCoopmatWideRows = 32;
inline constexpr std::uint32_t kCoopmatWideWorkgroupsPerUnit = 1;
inline constexpr std::uint32_t kCoopmatWideSplitTiles = 16;
inline constexpr std::uint32_t kScalarWorkgroupsPerUnit = 8;
inline constexpr std::uint32_t kUnknownComputeUnits = 16;
inline constexpr std::uint32_t kMinTilesPerSplit = 2;
// Each split writes its rows' partial O and LSE (rows x (Dv + 1) fp32) and the merge reads them
// back, while it reads its keys' K and V (keys x (Dk + Dv) at 2 bytes for fp16): so that the
// workspace stays a fraction of the K/V traffic (about 1/2 at Dk = Dv, counting both ways),
// a split keeps at least kKeysPerWorkspaceRow keys per row of its workgroup. At Sq = 8 with 8
// query heads per KV head (64 rows) that is 256 keys: 16 splits at Sk = 4k on the coopmat kernel.
inline constexpr std::uint32_t kKeysPerWorkspaceRow = 4;
inline constexpr std::uint32_t kMaxSplits = 1024;

// Fills pack_gqa and splits of a `spec` whose tiles are chosen, and on the scalar path row_lanes
// (the coopmat forward's key lanes come with its tiles: fwd_tiles). Splits: the override
// (VKATTN_SPLITS / options.overrides.splits) if set; else for decode-shaped problems the count
// that brings the grid to the workgroups per compute unit above (1 where the grid already has
// them; the wide-row rule above on the coopmat kernel), a power of two, at most the key tiles /
// kMinTilesPerSplit and Sk / (kKeysPerWorkspaceRow x the workgroup's rows); else 1. Then, on
// llvmpipe, at least as many as its loop budget needs (a forced count below that is
// kUnsupported naming the override), and no more than the workspace (splits x rows x (Dv + 1)
// floats) fits in one binding.
Status choose_split(const Problem& p, const DeviceInfo& info, const Overrides& overrides, bool coopmat,
                    FwdSpecConstants& spec);

// Bytes of the split-K workspace of `spec` for `p`: partial O and LSE per split (0 without split).
std::uint64_t split_workspace_bytes(const Problem& p, const FwdSpecConstants& spec);

}  // namespace vkattn
