// The accumulator layout the coopmat kernels index by: the comparison of a probe's readout with
// the layout (any host), and the probe itself on a device that lists VK_NV_cooperative_matrix.
#include "pipelines/coopmat_layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "context/context_state.hpp"
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

// On an NVIDIA device that lists the extension the probe must pass: a driver whose layout changed
// fails here instead of the rest of the suite quietly running the scalar kernels.
TEST_F(KernelPathTest, CoopmatNeedsTheProbedLayout) {
  std::uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(ctx().physical_device(), nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(ctx().physical_device(), nullptr, &n, exts.data());
  const bool listed = std::any_of(exts.begin(), exts.end(), [](const VkExtensionProperties& e) {
    return std::string(e.extensionName) == VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
  });
  if (!listed) GTEST_SKIP() << "the device does not list VK_NV_cooperative_matrix (lavapipe): nothing to probe";
  constexpr std::uint32_t kNvidia = 0x10DE;
  if (ctx().info().vendor_id == kNvidia) {
    ASSERT_TRUE(ctx().info().coopmat) << "an NVIDIA device with the extension should take the coopmat path";
  }
  if (!ctx().info().coopmat) GTEST_SKIP() << "the extension is listed, but not usable here";
  ContextState& s = context_state(ctx());
  Result<std::string> diff = probe_coopmat_layout(*s.device, *s.queue);
  ASSERT_TRUE(diff.is_ok()) << diff.status().to_string();
  EXPECT_EQ(diff.value(), "");
}

}  // namespace
}  // namespace vkattn::test
