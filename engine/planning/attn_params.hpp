// The parameter buffer every attention plan owns (shaders/attn_params.inc): a typed mirror of
// its header and the builder of its contents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/attn_fwd_interface.hpp"
#include "planning/problem.hpp"

namespace vkattn {

// The header of the parameter buffer, field for field; followed by one AttnSeqEntry per batch
// entry when SEQ_MODE != 0.
struct AttnParamsHeader {
  using uint = glsl::uint;
#define VKATTN_PARAM(T, name) T name = 0;
#include "attn_params.inc"
#undef VKATTN_PARAM
};
static_assert(sizeof(AttnParamsHeader) == 112, "the uvec4 array after the header starts at a 16-byte boundary");

struct AttnSeqEntry {
  std::uint32_t start_q = 0, len_q = 0, start_k = 0, len_k = 0;
};
static_assert(sizeof(AttnSeqEntry) == 16, "matches uvec4");

// The header alone (what the kernels read as params.<field>).
AttnParamsHeader attn_params_header(const Problem& p);

// Header plus, for padded and varlen problems, one (start_q, len_q, start_k, len_k) per batch.
std::vector<std::byte> attn_params_bytes(const Problem& p);

}  // namespace vkattn
