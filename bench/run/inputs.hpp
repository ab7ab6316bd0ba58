// vkattn-run's inputs: every .npy file named on the command line, read and checked (dtypes,
// ranks, the files that go together, the paged cache's table against its lengths) before the
// device is touched.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "npy.hpp"
#include "run/args.hpp"

namespace vkattn::run_tool {

// Logical [B, H, S, D] of a file in a layout (file dims in that layout's order).
struct Dims {
  std::int64_t b = 1, h = 1, s = 1, d = 1;
};
Dims dims_of(const npy::Array& a, const std::string& layout);

// An int32 array's values.
std::vector<std::int32_t> ints(const npy::Array& a);

struct Inputs {
  std::string layout = "bhsd";  // bhsd, bshd, sbhd or thd (packed varlen: [T, H, D])
  bool bf16 = false;                        // --storage=bf16: Q, K, V, dO given as f32, stored as bf16
  std::map<std::string, npy::Array> files;  // by flag (kFileFlags)
  Dims q, k, v;                             // paged: k and v are [num_blocks, Hkv, block_size, D]
  bool has(const std::string& flag) const { return files.count(flag) != 0; }
  bool thd() const { return layout == "thd"; }
  bool paged() const { return has("block-table"); }  // with --cache-lens: K and V are block pools
  Dims o() const { return {q.b, q.h, q.s, v.d}; }    // O and dO: Q's shape with V's head dim
  const npy::Array& at(const std::string& flag) const { return files.at(flag); }
};

Result<Inputs> read_inputs(const Args& a);

}  // namespace vkattn::run_tool
