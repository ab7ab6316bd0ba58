#include "pipelines/pipeline_report.hpp"

#include <cstdint>

#include "device/device.hpp"

namespace vkattn {
namespace {

double statistic_value(const VkPipelineExecutableStatisticKHR& s) {
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
      return s.value.b32 ? 1.0 : 0.0;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
      return static_cast<double>(s.value.i64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
      return static_cast<double>(s.value.u64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
      return s.value.f64;
    default:
      return 0.0;
  }
}

}  // namespace

std::vector<PipelineReport> capture_reports(const Device& s, VkPipeline pipeline, const std::string& name) {
  std::vector<PipelineReport> reports;
  if (!s.info.pipeline_statistics) return reports;
  VkPipelineInfoKHR info{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  info.pipeline = pipeline;
  std::uint32_t count = 0;
  if (s.get_executable_properties(s.device, &info, &count, nullptr) != VK_SUCCESS) {
    s.log_message(LogLevel::kWarning, "vkGetPipelineExecutablePropertiesKHR(" + name + ") failed");
    return reports;
  }
  std::vector<VkPipelineExecutablePropertiesKHR> props(count, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  if (s.get_executable_properties(s.device, &info, &count, props.data()) != VK_SUCCESS) return reports;
  for (std::uint32_t e = 0; e < count; ++e) {
    PipelineReport r;
    r.name = name;
    r.executable = props[e].name;
    VkPipelineExecutableInfoKHR exe{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    exe.pipeline = pipeline;
    exe.executableIndex = e;
    std::uint32_t n = 0;
    if (s.get_executable_statistics(s.device, &exe, &n, nullptr) == VK_SUCCESS) {
      std::vector<VkPipelineExecutableStatisticKHR> stats(n, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
      if (s.get_executable_statistics(s.device, &exe, &n, stats.data()) == VK_SUCCESS) {
        for (std::uint32_t k = 0; k < n; ++k) {
          r.statistics.push_back({stats[k].name, stats[k].description, statistic_value(stats[k])});
        }
      }
    }
    reports.push_back(std::move(r));
  }
  return reports;
}

}  // namespace vkattn
