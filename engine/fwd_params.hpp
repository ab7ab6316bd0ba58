// The contents of a forward plan's parameter buffer (shaders/attn_fwd_params.inc).
#pragma once

#include <cstddef>
#include <vector>

#include "fwd_variant.hpp"

namespace vkattn {

// Header plus, for padded and varlen problems, one (start_q, len_q, start_k, len_k) per batch.
std::vector<std::byte> fwd_params_bytes(const FwdProblem& p);

}  // namespace vkattn
