// Tile choice of the backward kernels (attn_bwd_pre, attn_bwd_dq/dkdv and their coopmat
// versions, attn_bwd_dparam): the rule, the shared-memory model, the tuning overrides' checks,
// and the device limits a chosen tiling must meet.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

// Shared memory of attn_bwd_dq_cm / attn_bwd_dkdv_cm (the larger) with BLOCK_ROWS = block_rows
// (one 32-lane subgroup per 16 rows) and BLOCK_COLS = block_cols.
std::uint32_t cm_bwd_shared_bytes(std::uint32_t block_rows, std::uint32_t block_cols, std::uint32_t dk,
                                  std::uint32_t dv);

// The kernels of a backward plan.
enum class BwdKernel { kPre, kDq, kDkdv, kParam };

// 32-bit registers per invocation the coopmat dq and dkdv kernels may hold in fragments: what
// Dk = Dv = 128 holds in dkdv (K and V rows, 8 + 8 fp16 fragments of 4; dK and dV, 8 + 8 fp32
// accumulators of 8), which the H100 and H200 run without spilling.
inline constexpr std::uint32_t kCmBwdFragmentRegisters = 192;

// DQ_CHUNK16 or DKDV_CHUNK16 (attn_bwd_spec.inc) of `kernel` (kDq or kDkdv) for head dims dk, dv:
// 0 (one chunk) where the kernel's fragments fit kCmBwdFragmentRegisters, else the fragments of
// the fewest equal chunks that fit. Head dims <= 128 are one chunk; 256 splits dQ in 2 and dK,
// dV in 4, each chunk recomputing S and dP (2 and 4 times the S and dP products).
std::uint32_t cm_bwd_chunk16(std::uint32_t dk, std::uint32_t dv, BwdKernel kernel);

// Workgroups along z of the coopmat `kernel`'s dispatch (kDq or kDkdv): its chunks of the head dim.
std::uint32_t cm_bwd_chunks(const BwdSpecConstants& s, BwdKernel kernel);

// The smallest coopmat backward tiling: 64 rows (four 32-lane subgroups of 16) and 16 columns; a
// problem whose head dims cannot hold it stays off the coopmat path.
inline constexpr std::uint32_t kCmBwdSmallestRows = 64;
inline constexpr std::uint32_t kCmBwdSmallestCols = 16;

// The coopmat backward's tiles forced for tuning (0: chosen): BLOCK_ROWS by VKATTN_CM_BWD_ROWS
// (64 or 128: four or eight subgroups of 16 rows) and BLOCK_COLS by VKATTN_CM_BWD_BLOCK_COLS
// (16, 32 or 64).
struct CmBwdTiles {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
};

// The kernel-shape constants of the dq and dkdv kernels for `features`, on the coopmat kernels
// when `coopmat`. Scalar: BLOCK_ROWS = 64 (or the device's workgroup limit) = WORKGROUP_SIZE,
// BLOCK_COLS the largest power of two <= min(64, BLOCK_ROWS) whose fp32 staged tiles fit
// maxComputeSharedMemorySize. Coopmat: one 32-lane subgroup per 16 rows (WORKGROUP_SIZE =
// 2 BLOCK_ROWS); for BLOCK_ROWS = 64 and 128 (four and eight subgroups, where the workgroup limit
// allows) the largest BLOCK_COLS in {64, 32, 16} whose fp16 tiles fit and whose prefetched tile
// stays within kCmPrefetchChunks, and of those the longer column tile, ties to 64 rows (on the
// H100: 64 x 64 at Dk = Dv = 64, 128 x 64 at 128, where 64 rows reach 32 columns), each with the
// next tile fetched into registers (TILE_AHEAD = 1). Before the rule, a measured shape: at
// Dk = Dv = 128 without a causal or window mask, 64 x 64 with each tile loaded at its turn
// (TILE_AHEAD = 0). `forced` (checked by choose_bwd_tiles) fixes either, skipping the measured
// shape; a forced BLOCK_COLS alone keeps 64 rows.
BwdSpecConstants bwd_tiles(const FeatureSpecConstants& features, bool coopmat, const DeviceInfo& info,
                           CmBwdTiles forced = {});

// The backward's tiles for `p` on the path chosen: the overrides checked (on the coopmat kernels,
// a forced tiling whose workgroup or shared memory, the smallest it can take, exceeds the device
// is kUnsupported naming the overrides and the limit), bwd_tiles, then the device's limits
// (shared memory, workgroup counts, llvmpipe's loop budget).
Result<BwdSpecConstants> choose_bwd_tiles(const Problem& p, bool coopmat, const DeviceInfo& info,
                                          const Overrides& overrides);

// The backward's device limits for the tiles `s`: workgroup counts of its grids, llvmpipe's loop
// budget (choose_bwd_tiles checks them; the cooperative-matrix-2 tiles too).
Status check_bwd_limits(const Problem& p, const BwdSpecConstants& s, const DeviceInfo& info);

// Shared memory `kernel` declares (its shared arrays) with the constants `spec` on the coopmat path
// or the scalar one: the host's model, which tile choice relies on (cm_bwd_shared_bytes is the
// larger, dkdv's), and which tests/planning/shared_memory_test.cpp compares with what the driver
// reports for each pipeline.
std::uint32_t bwd_shared_bytes(const BwdSpecConstants& spec, BwdKernel kernel, bool coopmat);

// The preprocessing kernel's constants: only the ones it reads, so its pipeline is shared widely.
BwdSpecConstants bwd_pre_spec(const BwdSpecConstants& s);

// The constants of attn_bwd_dparam.comp computing gradient `which`: the dq/dkdv kernels' with PARAM
// set and its workgroup of BLOCK_ROWS invocations.
BwdSpecConstants bwd_param_spec(const BwdSpecConstants& s, BwdParam which);

}  // namespace vkattn
