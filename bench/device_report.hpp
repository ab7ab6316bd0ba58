// vkattn-bench --info: the device, each kernel path with why it is or is not available, and the
// kernels (variant names, tiles in them) and path reasons the planner picks for given shapes.
#pragma once

#include <cstdio>
#include <vector>

#include "bench_cases.hpp"
#include "vkattn/context.hpp"

namespace vkattn::bench {

// Prints to `out` the plans for `shapes` on `path` (--path; auto by default); 0, or 1 when
// planning a shape failed.
int print_info(Context& ctx, const std::vector<Shape>& shapes, KernelPath path, std::FILE* out);

}  // namespace vkattn::bench
