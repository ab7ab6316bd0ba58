// The named values of the kernels' enumerated specialization constants (shaders/attn_enums.inc,
// shared verbatim with the shaders), checked here against the C++ enums that set them.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn/score_mod.hpp"

namespace vkattn::shader {

#define VKATTN_ENUM(NAME, value) inline constexpr std::uint32_t k##NAME = value;
#include "attn_enums.inc"
#undef VKATTN_ENUM

constexpr std::uint32_t u32(auto e) { return static_cast<std::uint32_t>(e); }
static_assert(kDTYPE_F32 == u32(DType::kF32) && kDTYPE_F16 == u32(DType::kF16) && kDTYPE_BF16 == u32(DType::kBF16));
static_assert(kSEQ_DENSE == u32(SeqMode::kDense) && kSEQ_PADDED == u32(SeqMode::kPadded) &&
              kSEQ_VARLEN == u32(SeqMode::kVarlen));
static_assert(kALIBI_NONE == u32(Alibi::kNone) && kALIBI_PER_HEAD == u32(Alibi::kPerHead) &&
              kALIBI_PER_BATCH_HEAD == u32(Alibi::kPerBatchHead));
// score_mod.glsl reads the bias as DTYPE BIAS - BIAS_F32.
static_assert(kDTYPE_F32 == 0 && kBIAS_F32 == 1 + kDTYPE_F32 && kBIAS_F16 == 1 + kDTYPE_F16);
static_assert(kPARAM_NONE == u32(BwdParam::kNone) && kPARAM_BIAS == u32(BwdParam::kBias) &&
              kPARAM_TABLE == u32(BwdParam::kTable) && kPARAM_SINKS == u32(BwdParam::kSinks));

// BIAS for a bias tensor of `dtype` (fp32 or fp16).
constexpr std::uint32_t bias_value(DType dtype) { return 1 + u32(dtype); }

}  // namespace vkattn::shader
