// Checks of a paged cache's description (vkattn/paged_kv.hpp), shared by attention over the cache
// and appends into it: the pool's shape, and host tables entry by entry. Every error is
// kInvalidArgument naming the field, the index and the value.
#pragma once

#include <cstdint>

#include "vkattn/paged_kv.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// block_size a power of two in [8, 256], num_blocks in [1, 2^30], max_blocks * block_size <= 2^28.
Status check_paged_shape(const PagedKV& pk);

// Host tables of `batch` sequences: block_table [batch * max_blocks] and cache_lens [batch], each
// length in [0, max_len] (`max_len_name` names the bound), and every block that holds a position
// the operation touches within [0, num_blocks): attention reads [0, len), an append of
// `new_tokens` writes [len, len + new_tokens), which must stay within max_blocks * block_size,
// and no two sequences' new tokens may land in the same (block, row).
Status check_host_tables(const PagedKV& pk, std::int64_t batch, std::int64_t max_len, const char* max_len_name,
                         std::int64_t new_tokens);

}  // namespace vkattn
