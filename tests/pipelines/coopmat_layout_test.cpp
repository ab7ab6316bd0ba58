// The fragment layouts the coopmat kernels index by: the comparison of a probe's readout with the
// accumulator layout and the A-operand order derived from it (any host), and the probes
// themselves on a device that lists VK_NV_cooperative_matrix or VK_KHR_cooperative_matrix.
#include "pipelines/coopmat_layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "context/context_state.hpp"
#include "device/vk_coopmat_khr.hpp"
#include "kernels/attn_spec.hpp"
#include "vkattn/kernel_path.hpp"
#include "support/kernel_path_fixture.hpp"

namespace vkattn::test {
namespace {

TEST(CoopmatLayout, ComparisonNamesTheFirstDifference) {
  std::vector<float> cells(256);
  std::vector<float> counts(32, 8.0f);
  for (std::uint32_t lane = 0; lane < 32; ++lane) {
    for (std::uint32_t e = 0; e < 8; ++e) {
      cells[8 * lane + e] = static_cast<float>(16 * mma_acc_row(lane, e) + mma_acc_col(lane, e));
    }
  }
  EXPECT_EQ(compare_with_mma_layout(cells, counts), "");
  // Every (row, column) appears exactly once.
  std::vector<int> seen(256, 0);
  for (float c : cells) ++seen[static_cast<std::size_t>(c)];
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 256);

  std::vector<float> swapped = cells;
  std::swap(swapped[8 * 5 + 2], swapped[8 * 5 + 4]);  // lane 5: a column pair and a row half traded
  EXPECT_NE(compare_with_mma_layout(swapped, counts).find("lane 5 element 2"), std::string::npos)
      << compare_with_mma_layout(swapped, counts);
  std::vector<float> short_lane = counts;
  short_lane[31] = 4.0f;
  EXPECT_NE(compare_with_mma_layout(cells, short_lane).find("lane 31 holds"), std::string::npos);
}

std::vector<float> mma_acc_cells() {
  std::vector<float> cells(256);
  for (std::uint32_t lane = 0; lane < 32; ++lane) {
    for (std::uint32_t e = 0; e < 8; ++e) {
      cells[8 * lane + e] = static_cast<float>(16 * mma_acc_row(lane, e) + mma_acc_col(lane, e));
    }
  }
  return cells;
}

// An A layout that holds the accumulator's elements of each lane in another order (the mma
// instructions' A order: row halves before column halves) gives that order; one that does not,
// or whose order differs between lanes, is refused with the lane and element.
TEST(CoopmatLayout, AOperandOrderFromTheAccumulator) {
  const std::vector<float> acc = mma_acc_cells();
  const std::uint32_t perm[8] = {0, 1, 4, 5, 2, 3, 6, 7};
  std::vector<float> a(256);
  for (std::uint32_t lane = 0; lane < 32; ++lane) {
    for (std::uint32_t e = 0; e < 8; ++e) a[8 * lane + e] = acc[8 * lane + perm[e]];
  }
  const std::vector<float> counts(32, 8.0f);
  std::uint32_t order = 0;
  ASSERT_EQ(a_from_acc_order(acc, a, counts, order), "");
  for (std::uint32_t e = 0; e < 8; ++e) EXPECT_EQ((order >> (3 * e)) & 7u, perm[e]) << "element " << e;
  std::uint32_t identity = 0;
  ASSERT_EQ(a_from_acc_order(acc, acc, counts, identity), "");
  EXPECT_EQ(identity, FwdSpecConstants{}.cm_a_from_acc) << "the spec constant's default is the identity";

  std::vector<float> foreign = a;
  foreign[8 * 3 + 6] = acc[8 * 4];  // lane 3 holds an element of lane 4
  std::uint32_t unused = 0;
  EXPECT_NE(a_from_acc_order(acc, foreign, counts, unused).find("A lane 3 element 6"), std::string::npos)
      << a_from_acc_order(acc, foreign, counts, unused);
  std::vector<float> lane_order = a;
  std::swap(lane_order[8 * 9 + 0], lane_order[8 * 9 + 1]);  // lane 9 alone swaps two elements
  EXPECT_NE(a_from_acc_order(acc, lane_order, counts, unused).find("A lane 9 element 0 is accumulator element 1"),
            std::string::npos)
      << a_from_acc_order(acc, lane_order, counts, unused);
  std::vector<float> short_lane = counts;
  short_lane[7] = 16.0f;
  EXPECT_NE(a_from_acc_order(acc, a, short_lane, unused).find("lane 7 holds"), std::string::npos);
}

bool device_lists(Context& ctx, const char* extension) {
  std::uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(ctx.physical_device(), nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(ctx.physical_device(), nullptr, &n, exts.data());
  return std::any_of(exts.begin(), exts.end(),
                     [&](const VkExtensionProperties& e) { return std::string(e.extensionName) == extension; });
}

// On an NVIDIA device that lists an extension (and a build whose toolchain compiled it) its probe
// must pass: a driver whose layout changed fails here instead of the rest of the suite quietly
// running the scalar kernels.
void expect_probe_passes(Context& ctx, bool khr) {
  const char* extension = khr ? VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME : VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
  if (!device_lists(ctx, extension)) GTEST_SKIP() << "the device does not list " << extension << ": nothing to probe";
  const ToolchainInfo t = toolchain_info();
  if (khr ? !t.khr_cooperative_matrix : !t.nv_cooperative_matrix) GTEST_SKIP() << "not compiled in";
  const bool usable = khr ? ctx.info().coopmat_khr : ctx.info().coopmat;
  constexpr std::uint32_t kNvidia = 0x10DE;
  if (ctx.info().vendor_id == kNvidia) {
    ASSERT_TRUE(usable) << "an NVIDIA device with " << extension << " should take its coopmat path";
  }
  if (!usable) GTEST_SKIP() << "the extension is listed, but not usable here";
  ContextState& s = context_state(ctx);
  Result<CoopmatLayout> layout = probe_coopmat_layout(*s.device, *s.queue, khr);
  ASSERT_TRUE(layout.is_ok()) << layout.status().to_string();
  EXPECT_EQ(layout.value().mismatch, "");
  if (khr) {
    EXPECT_EQ(layout.value().a_from_acc, ctx.info().coopmat_khr_a_from_acc);
    std::cout << "A from accumulator order: 0x" << std::hex << layout.value().a_from_acc << std::dec << "\n";
  }
}

TEST_F(KernelPathTest, CoopmatNeedsTheProbedLayout) { expect_probe_passes(ctx(), false); }
TEST_F(KernelPathTest, CoopmatKhrNeedsTheProbedLayouts) { expect_probe_passes(ctx(), true); }

}  // namespace
}  // namespace vkattn::test
