#include "planning/paged_tables.hpp"

#include <map>
#include <string>
#include <utility>

#include "base/vk_util.hpp"

namespace vkattn {

Status check_paged_shape(const PagedKV& pk) {
  const std::int64_t bs = pk.block_size;
  if (bs < 8 || bs > 256 || (bs & (bs - 1)) != 0) {
    return invalid("desc.paged_kv.block_size = " + num(bs) + " (must be a power of two in [8, 256])");
  }
  if (pk.num_blocks < 1 || pk.num_blocks > (std::int64_t{1} << 30)) {
    return invalid("desc.paged_kv.num_blocks = " + num(pk.num_blocks) + " (must be in [1, 2^30])");
  }
  if (pk.max_blocks < 1 || pk.max_blocks * bs > (std::int64_t{1} << 28)) {
    return invalid("desc.paged_kv.max_blocks = " + num(pk.max_blocks) +
                   " (must be >= 1, with max_blocks * block_size <= 2^28)");
  }
  return Status::ok();
}

Status check_host_tables(const PagedKV& pk, std::int64_t batch, std::int64_t max_len, const char* max_len_name,
                         std::int64_t new_tokens) {
  const auto count = [](const std::vector<std::int32_t>& v) { return static_cast<std::int64_t>(v.size()); };
  const std::string both = " (host tables need both block_table and cache_lens)";
  if (count(pk.block_table) != batch * pk.max_blocks) {
    return invalid("desc.paged_kv.block_table has " + num(count(pk.block_table)) +
                   " entries, expected desc.batch * max_blocks = " + num(batch * pk.max_blocks) +
                   (pk.block_table.empty() ? both : ""));
  }
  if (count(pk.cache_lens) != batch) {
    return invalid("desc.paged_kv.cache_lens has " + num(count(pk.cache_lens)) + " entries, expected desc.batch = " +
                   num(batch) + (pk.cache_lens.empty() ? both : ""));
  }
  const std::int64_t bs = pk.block_size;
  // An append writes each (block, row) once: two sequences writing the same slot would race.
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> written;  // (block, row) -> sequence
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t len = pk.cache_lens[static_cast<std::size_t>(b)];
    if (len < 0 || len > max_len) {
      return invalid("desc.paged_kv.cache_lens[" + num(b) + "] = " + num(len) + " is outside [0, " + max_len_name +
                     " = " + num(max_len) + "]");
    }
    const std::int64_t first = new_tokens > 0 ? len : 0;
    const std::int64_t end = new_tokens > 0 ? len + new_tokens : len;
    if (end > pk.max_blocks * bs) {
      return invalid("desc.paged_kv.cache_lens[" + num(b) + "] = " + num(len) + " + desc.new_tokens = " +
                     num(new_tokens) + " runs past the table (max_blocks * block_size = " + num(pk.max_blocks * bs) +
                     ")");
    }
    for (std::int64_t n = first / bs; n < (end + bs - 1) / bs; ++n) {
      const std::int64_t at = b * pk.max_blocks + n;
      const std::int32_t id = pk.block_table[static_cast<std::size_t>(at)];
      if (id < 0 || id >= pk.num_blocks) {
        return invalid("desc.paged_kv.block_table[" + num(at) + "] (sequence " + num(b) + ", block " + num(n) +
                       ") = " + num(id) + " is outside [0, desc.paged_kv.num_blocks = " + num(pk.num_blocks) + ")");
      }
    }
    for (std::int64_t pos = first; new_tokens > 0 && pos < end; ++pos) {
      const std::int64_t block = pk.block_table[static_cast<std::size_t>(b * pk.max_blocks + pos / bs)];
      const auto [it, fresh] = written.emplace(std::pair{block, pos % bs}, b);
      if (!fresh) {
        return invalid("desc.paged_kv.block_table: sequences " + num(it->second) + " and " + num(b) +
                       " would both write row " + num(pos % bs) + " of block " + num(block) +
                       " (each new token needs a slot of its own)");
      }
    }
  }
  return Status::ok();
}

}  // namespace vkattn
