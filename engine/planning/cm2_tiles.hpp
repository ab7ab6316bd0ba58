// Tile choice of the cooperative-matrix-2 forward (shaders/attn_fwd_cm2.comp, KernelPath::kCoopmat2).
// Its matrices are workgroup-scope: the driver spreads them over the workgroup's subgroups and
// stages what it needs in shared memory itself, so the host picks only the query tile, the key tile
// and the workgroup size.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

// BLOCK_Q = 64 query rows over four subgroups (WORKGROUP_SIZE = 128), and BLOCK_K = 64 keys where
// both head dims pad to at most 128, else 32 (the S, P and O matrices then stay the size of the
// D = 128 ones). Not yet measured on a GPU: the first device run sweeps these with the overrides.
// The overrides VKATTN_CM_BLOCK_Q (64, 128, 256), VKATTN_CM_BLOCK_K (16, 32, 64) and
// VKATTN_CM_SUBGROUPS (4, 8) fix any of them.
FwdSpecConstants cm2_fwd_tiles(const FeatureSpecConstants& features, const Overrides& overrides);

// cm2_fwd_tiles for `p` with write_lse set, then the grid against the device's workgroup counts.
Result<FwdSpecConstants> choose_cm2_fwd_tiles(const Problem& p, const DeviceInfo& info, const Overrides& overrides);

}  // namespace vkattn
