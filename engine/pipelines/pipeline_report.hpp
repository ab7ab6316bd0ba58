// Reading a pipeline's compiler statistics (VK_KHR_pipeline_executable_properties).
#pragma once

#include <vulkan/vulkan_core.h>

#include <string>
#include <vector>

#include "vkattn/pipeline_report.hpp"

namespace vkattn {

struct Device;

// The reports of `pipeline` (created with VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR), one
// per executable, named `name`. Empty without DeviceInfo::pipeline_statistics or when the
// driver's queries fail (statistics are diagnostics: a failure is logged, not returned).
std::vector<PipelineReport> capture_reports(const Device& s, VkPipeline pipeline, const std::string& name);

}  // namespace vkattn
