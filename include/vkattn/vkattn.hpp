// vkattn/vkattn.hpp — include this one header for the whole public API.
#pragma once

#include "vkattn/attention.hpp"
#include "vkattn/context.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn/log.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"
