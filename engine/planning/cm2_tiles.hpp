// Tile choice of the cooperative-matrix-2 forward (shaders/attn_fwd_cm2.comp, KernelPath::kCoopmat2).
// Its matrices are workgroup-scope: the driver spreads them over the workgroup's subgroups and
// stages what it needs in shared memory itself, so the host picks the workgroup size, the query
// tile and the key tile, within one of the device's flexible-dimension shapes
// (DeviceInfo::coopmat2_shapes).
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

// The workgroup size is the device shape's with 128 invocations where it lists one, else its
// smallest; Dk and Dv pad to CM2_DIM_PAD = the larger of 16 and the shape's N and K granularity;
// BLOCK_Q = 64 and BLOCK_K = 64 keys where both padded head dims are at most 128, else 32 (the
// S, P and O matrices then stay the size of the D = 128 ones), each rounded up to what the shape's
// granularity allows. Not yet measured on a GPU: the first device run sweeps these with the
// overrides VKATTN_CM_BLOCK_Q (64, 128, 256), VKATTN_CM_BLOCK_K (16, 32, 64) and
// VKATTN_CM_SUBGROUPS (4, 8: 128 or 256 invocations), which fix any of them. A forced value the
// device's shapes cannot take is kUnsupported naming the override; so is a matrix dimension past
// cooperativeMatrixFlexibleDimensionsMaxDimension. write_lse is left at its default.
Result<FwdSpecConstants> cm2_fwd_tiles(const FeatureSpecConstants& features, const DeviceInfo& info,
                                       const Overrides& overrides);

// cm2_fwd_tiles for `p` with write_lse set, then the grid against the device's workgroup counts.
Result<FwdSpecConstants> choose_cm2_fwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& overrides);

// The backward's (attn_bwd_dq_cm2.comp, attn_bwd_dkdv_cm2.comp): the same shape and padding;
// BLOCK_ROWS = 64 rows of the workgroup's own side (queries for dq, keys for dkdv), BLOCK_COLS = 64
// of the streamed side where both padded head dims are at most 128, else 32, each rounded up to
// the shape's granularity. VKATTN_CM_BWD_ROWS (64, 128), VKATTN_CM_BWD_BLOCK_COLS (16, 32, 64) and
// VKATTN_CM_SUBGROUPS fix them, refused by name where the device's shapes cannot take them.
Result<BwdSpecConstants> choose_cm2_bwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& overrides);

}  // namespace vkattn
