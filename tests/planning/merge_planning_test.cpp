// The merge's shape (planning/merge_planning.hpp): one invocation per 4 elements of Dv, rounded up
// to a power of two (COLS), times the part lanes that share out the parts, four per step
// (PART_LANES: the largest power of two <= ceil(parts / 4), up to kMergeInvocations invocations in
// all, or the device's limit). A host-only check; the kernel itself runs in merge_test (many parts,
// fewer lanes than parts, a remainder, lanes that see nothing) and in every split-K forward.
#include "planning/merge_planning.hpp"

#include <gtest/gtest.h>

#include <tuple>

namespace vkattn::test {
namespace {

std::tuple<std::uint32_t, std::uint32_t, std::uint32_t> shape_of(std::int64_t dv, std::int64_t parts) {
  MergeDesc d;
  d.head_dim_v = dv;
  d.num_parts = parts;
  d.seq = 1;
  Result<MergeSpecConstants> s = plan_merge(d, 1024);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  if (!s) return {};
  EXPECT_EQ(s->workgroup_size, s->cols * s->part_lanes);
  return {s->cols, s->part_lanes, s->workgroup_size};
}

TEST(MergePlanning, ColumnsAndPartLanes) {
  using T = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;
  EXPECT_EQ(shape_of(8, 1), T(2, 1, 2));
  EXPECT_EQ(shape_of(128, 2), T(32, 1, 32));       // a ring step: O and one more part, one step of one lane
  EXPECT_EQ(shape_of(128, 4), T(32, 1, 32));       // batch-16 decode's 4 splits: one lane, one step
  EXPECT_EQ(shape_of(128, 5), T(32, 2, 64));       // ceil(5 / 4) = 2 lanes
  EXPECT_EQ(shape_of(128, 64), T(32, 16, 512));    // batch-1 decode's 64 splits: 16 lanes of four parts
  EXPECT_EQ(shape_of(128, 256), T(32, 16, 512));   // capped at kMergeInvocations: 16 parts per lane
  EXPECT_EQ(shape_of(72, 16), T(32, 4, 128));      // Dv / 4 = 18 columns round up to 32
  EXPECT_EQ(shape_of(136, 64), T(64, 8, 512));
  EXPECT_EQ(shape_of(256, 16384), T(64, 8, 512));
  // A device that allows only Vulkan's minimum of 128 invocations per workgroup.
  MergeDesc d;
  d.head_dim_v = 128, d.num_parts = 256, d.seq = 1;
  Result<MergeSpecConstants> small = plan_merge(d, 128);
  ASSERT_TRUE(small.is_ok());
  EXPECT_EQ(std::tuple(small->cols, small->part_lanes, small->workgroup_size), T(32, 4, 128));
}

}  // namespace
}  // namespace vkattn::test
