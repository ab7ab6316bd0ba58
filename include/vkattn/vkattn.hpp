// vkattn/vkattn.hpp — include this one header for the whole public API.
#pragma once

#include "vkattn/attention.hpp"
#include "vkattn/backward.hpp"
#include "vkattn/context.hpp"
#include "vkattn/device.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn/kernel_path.hpp"
#include "vkattn/log.hpp"
#include "vkattn/mask.hpp"
#include "vkattn/merge.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/plan_overrides.hpp"
#include "vkattn/score_mod.hpp"
#include "vkattn/sequences.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"
