// Tile choice of the forward kernels (attn_fwd.comp, attn_fwd_cm.comp): the rule, the
// shared-memory and register models it uses, the tuning overrides' checks, and the device limits
// a chosen tiling must meet.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "kernels/kernel.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

// Coopmat kernels keep the next streamed tile (K/V in the forward, Q/dO or K/V in the backward)
// in registers while the current one computes: tile rows x (Dk + Dv) halves over the workgroup.
// Past 8 16-byte chunks (32 registers) per invocation the kernels hit the 255-register ceiling at
// Dk = Dv = 128 (measured on the H100: the four-subgroup forward with 64-key tiles ran 81 TFLOP/s
// at 255 registers, with 32-key tiles 91), so the backward's automatic tiles stay within this (the
// forward counts all its fragments: kCmFragmentRegisters; its eight-subgroup 64-key tiles at
// D = 128 take 8 chunks per invocation).
constexpr std::uint32_t kCmPrefetchChunks = 8;

// The smallest coopmat forward tiling: four 32-lane subgroups of one 16-row fragment each (64
// query rows) and 16 keys. A problem whose head dims cannot hold it stays off the coopmat path.
inline constexpr std::uint32_t kCmSmallestBlockQ = 64;
inline constexpr std::uint32_t kCmSmallestSubgroups = 4;
inline constexpr std::uint32_t kCmSmallestBlockK = 16;

// 16-byte chunks per invocation that hold `rows` rows of Dk and Dv halves (K and V, or Q and dO)
// spread over `invocations`, each tensor rounded up as the kernels hold them.
std::uint32_t cm_prefetch_chunks(std::uint32_t rows, std::uint32_t dk, std::uint32_t dv, std::uint32_t invocations);

// 32-bit registers per invocation that attn_fwd_cm.comp holds in fragments for these tiles and
// `subgroups` (of 32 lanes): O and S accumulators (8 per 16 x 16 fp32 fragment) and, unless Q is
// in shared memory (`q_shared`), Q operands (4 per 16 x 16 fp16 fragment) for each of its
// block_q / (16 subgroups) row fragments, and the prefetched K/V tile.
std::uint32_t cm_fwd_fragment_registers(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk,
                                        std::uint32_t dv, bool q_shared, std::uint32_t subgroups);

// The coopmat forward's budget for cm_fwd_fragment_registers. Measured on the H100 (driver's
// register counts, TFLOP/s at (4, 16, 4096, D)): with Q in registers, 144 gave 231-244 registers
// (D = 64 with 128 x 32 tiles, 133 TFLOP/s, 1.23x the 64 x 64 tiles); 192 hit the 255 ceiling
// (D = 128 with 64 x 64 tiles ran 81 against 91 for 64 x 32). With Q in shared memory, 160
// (128 x 64 at D = 64) reaches 255 registers, and the driver reports 6.6 KB more shared memory
// than the arrays (as for the D = 128 dkdv kernel at 255: spill space, presumably), yet it ran
// 143 against 136 for 128 x 32 with Q in registers, in one call. The count leaves out transient
// operands (Q's RF fragments of one 16-dim step, one K^T or V fragment).
constexpr std::uint32_t kCmFragmentRegisters = 160;

// The decode tiles' budget for cm_decode_registers: higher, because a decode split walks its keys
// latency-bound and a longer key tile keeps more bytes in flight. Measured on the H100 (bench/
// RESULTS_H100.md, twenty-sixth session) at D = 128 with 64 packed rows (b16, GQA 32:4, Sq = 8):
// the 64-key tile with Q in registers (estimate 192; the driver reports 255 registers) ran 0.0954
// and 0.427 ms at Sk = 4k and 32k against 0.1046 and 0.523 for the 32-key tile with Q in shared
// memory (estimate 112, 217 registers) that kCmFragmentRegisters chose.
constexpr std::uint32_t kCmDecodeRegisters = 192;

// A head dim as the coopmat kernels hold it: padded to the 16-wide fragments (attn_cm_tiles.glsl).
// The coopmat models (cm_*) take the real head dims and pad them themselves.
constexpr std::uint32_t cm_padded_dim(std::uint32_t d) { return (d + 15) / 16 * 16; }

// Shared memory of attn_fwd_cm.comp for these tiles, head dims and subgroups (its shared arrays),
// with Q staged there (`q_shared`) or not. `block_q`: the rows of Q the workgroup holds (BLOCK_Q /
// ROW_LANES).
std::uint32_t cm_shared_bytes(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk, std::uint32_t dv,
                              bool q_shared, std::uint32_t subgroups);

// Coopmat tiles forced by the overrides (0: chosen). `subgroups` is the forced count, or the one a
// forced query tile implies (four; eight for 256 rows).
struct FwdForcedTiles {
  std::uint32_t block_q = 0;
  std::uint32_t block_k = 0;
  std::uint32_t subgroups = 0;
};

// The kernel-shape constants for `features` (write_lse left at its default). Scalar path: BLOCK_K
// is the largest power of two <= min(64, BLOCK_Q) whose fp32 K and V tiles (fwd_shared_bytes) fit
// maxComputeSharedMemorySize. Coopmat path
// (WORKGROUP_SIZE = 32 x 4 or 8 subgroups, each owning 16 or 32 query rows): the largest BLOCK_K
// (64, 32, 16) whose shared memory (cm_shared_bytes) fits and whose fragments stay within
// kCmFragmentRegisters, with the first shape that reaches it of four subgroups x 32 rows
// (BLOCK_Q = 128), eight x 16 (128), four x 16 (64), eight x 32 (256), and Q in shared memory
// (Q_SHARED) wherever it fits (on the H100: 128 x 64 with four subgroups and Q in shared memory
// at Dk = Dv = 64; 128 x 64 with eight subgroups at 72 to 120 where no measured shape comes first); when no tile is
// within it (Dk = Dv = 256) the fewest registers, 64 x 16, with Q in shared memory where it fits (not at 256 in 48
// KiB). Before the rule, measured shapes for Dk = Dv = 72, 80 and 96 (128 x 64, four subgroups, Q in registers, each
// K/V tile loaded at its turn: KV_AHEAD = 0), 64 (the rule's 128 x 64, KV_AHEAD = 0) and 128 (without a causal or
// window mask 128 x 32, four subgroups, Q in registers, KV_AHEAD = 0; with one, 128 x 32, eight subgroups, Q in
// registers), and without a causal or window mask for 112 (256 x 32, eight subgroups of two fragments, Q in registers,
// KV_AHEAD = 0), where they fit; the 256-row one only with `wide_blocks`
// (wide_query_blocks_fit). Decode loads each tile at its turn (KV_AHEAD = 0) unless
// tiles are forced; everywhere else KV_AHEAD = 1. `forced` (the overrides VKATTN_CM_BLOCK_Q,
// VKATTN_CM_BLOCK_K and VKATTN_CM_SUBGROUPS) fixes any of them, budget or not (for tuning),
// skipping the measured shapes.
//
// Decode (`decode_rows` != 0: the packed query rows per KV head of a decode-shaped problem,
// planning/split_k.hpp) on the coopmat path without forced query tiles or subgroups: BLOCK_Q = 64
// over four subgroups of 16 rows, and the subgroups the rows leave take a share of every key tile
// (ROW_LANES = 4, 2 or 1 key lanes for up to 16, 32 or 64 rows), with the longest key tile that
// keeps the most lanes within shared memory and kCmDecodeRegisters (cm_decode_registers). A
// forced BLOCK_Q of 64 or 128 (with four subgroups, or none forced) keeps this shape; 128 gives
// each subgroup two fragments (ROW_LANES = 4 or 2 for up to 32 or 64 rows).
FwdSpecConstants fwd_tiles(const FeatureSpecConstants& features, bool coopmat, const DeviceInfo& info,
                           FwdForcedTiles forced = {}, std::uint32_t decode_rows = 0, bool wide_blocks = true);

// Whether 256-row query blocks beat 128-row ones for `row_blocks` (batch x query heads) rows of
// `seq_q` queries (varlen: the longest sequence) on `compute_units` multiprocessors (0: unknown,
// taken as kUnknownComputeUnits, as split-K does). The busiest multiprocessor sets the time: it
// runs ceil(blocks256 / units) 256-row blocks one after another (one fills its registers), each
// 0.9 of the time of a pair of 128-row blocks sharing it, against m = ceil(blocks128 / units)
// 128-row blocks in pairs, the last alone (0.6) when m is odd. Fits every grid timed on the H100
// (132 units, D = 80 and 112, RESULTS_H100.md, thirty-sixth and thirty-seventh sessions): 64,
// 192, 288 and 320 blocks of 256 rows lose (1.02-1.57x the time), 128, 256, 352, 512 and 768 win
// (0.80-0.94x); Sq = 640 (768 rows at 256, 640 at 128) loses (1.10x).
bool wide_query_blocks_fit(std::int64_t row_blocks, std::int64_t seq_q, std::uint32_t compute_units);

// cm_fwd_fragment_registers for the decode tiles: `rf` 16-row fragments per subgroup, four
// subgroups, S only for the lane's BLOCK_K / key_lanes keys.
std::uint32_t cm_decode_registers(std::uint32_t block_k, std::uint32_t key_lanes, std::uint32_t dk, std::uint32_t dv,
                                  bool q_shared, std::uint32_t rf = 1);

// The forward's tiles for `p` on the path chosen: the overrides checked (a forced tiling whose
// workgroup or shared memory the device cannot hold is kUnsupported naming the override; a query
// tile that does not give 16 or 32 rows per subgroup is kInvalidArgument), fwd_tiles, on the
// scalar path the split-K shape (choose_split), then the device's limits (shared memory,
// workgroup counts, llvmpipe's per-invocation loop budget).
Result<FwdSpecConstants> choose_fwd_tiles(const Problem& p, bool coopmat, const DeviceInfo& info,
                                          const Overrides& overrides);

// Shared memory the forward kernel of `spec` declares (its shared arrays) on the coopmat path
// (cm_shared_bytes) or the scalar one: the host's model, which tile choice relies on, and which
// tests/planning/shared_memory_test.cpp compares with what the driver reports for each pipeline.
std::uint32_t fwd_shared_bytes(const FwdSpecConstants& spec, bool coopmat);

// Loop iterations one invocation of `spec` runs for a row of `seq_k` keys (see attn_fwd.comp):
// one split's share of the tiles, and the lane merge.
std::uint64_t fwd_loop_iterations(const FwdSpecConstants& spec, std::int64_t seq_k);

// The forward kernel's grid: x = row blocks (query tiles, or packed (query, head) rows over
// BLOCK_Q / ROW_LANES rows each), y = batch x heads (KV heads when packed), z = splits.
WorkgroupCount fwd_grid(const Problem& p, const FwdSpecConstants& spec);

// fwd_grid against maxComputeWorkGroupCount: kInvalidArgument naming the desc fields past it.
Status check_fwd_grid(const Problem& p, const FwdSpecConstants& spec, const DeviceInfo& info);

}  // namespace vkattn
