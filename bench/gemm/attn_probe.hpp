// The attention probe (vkattn-gemm-probe --attention): a bare FlashAttention-2 forward written
// on GL_NV_cooperative_matrix2 (attn_cm2.comp: no mask or causal, fp16, [B*H, S, D]) over a sweep of tiles,
// each checked on sampled rows against an fp64 reference and timed, so that the workgroup-scope
// path's speed on attention is known before the engine builds a kernel path on it (issue 25).
// Compare with `vkattn-bench --shapes=BxHxSxD --benchmark_filter=^fwd/` in the same call.
#pragma once

#include <array>
#include <cstdint>

#include "probe_device.hpp"

namespace vkattn::probe {

// shape = {B, H, S, D}: S a multiple of 256, D of 16 up to 256. Returns the exit status: 0 when
// every configuration that ran matched the reference (or cooperative matrix 2 is unavailable,
// which it reports), 1 when one did not, 2 for a bad shape.
int attention_probe(ProbeDevice& device, const std::array<std::uint32_t, 4>& shape);

}  // namespace vkattn::probe
