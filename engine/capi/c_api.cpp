// The C API (include/vkattn/vkattn.h) over the C++ one: each handle owns its C++ object, each
// call converts its structs and keeps the failure's message for vkattn_last_error().
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "vkattn/vkattn.h"
#include "vkattn/vkattn.hpp"

struct vkattn_context_t {
  std::unique_ptr<vkattn::Context> ctx;
};
struct vkattn_tensor_t {
  vkattn::Tensor tensor;
};
struct vkattn_forward_plan_t {
  vkattn::ForwardPlan plan;
};
struct vkattn_backward_plan_t {
  vkattn::BackwardPlan plan;
};
struct vkattn_merge_plan_t {
  vkattn::MergePlan plan;
};
struct vkattn_kv_append_plan_t {
  vkattn::KVAppendPlan plan;
};

namespace {

using namespace vkattn;

// The C enums are the C++ ones' values.
static_assert(VKATTN_INVALID_ARGUMENT == static_cast<int>(ErrorCode::kInvalidArgument) &&
              VKATTN_UNSUPPORTED == static_cast<int>(ErrorCode::kUnsupported) &&
              VKATTN_NOT_FOUND == static_cast<int>(ErrorCode::kNotFound) &&
              VKATTN_OUT_OF_MEMORY == static_cast<int>(ErrorCode::kOutOfMemory) &&
              VKATTN_DEVICE_LOST == static_cast<int>(ErrorCode::kDeviceLost) &&
              VKATTN_VULKAN_ERROR == static_cast<int>(ErrorCode::kVulkan) &&
              VKATTN_IO_ERROR == static_cast<int>(ErrorCode::kIo) &&
              VKATTN_COMMUNICATION_ERROR == static_cast<int>(ErrorCode::kCommunication));
static_assert(VKATTN_F32 == static_cast<int>(DType::kF32) && VKATTN_F16 == static_cast<int>(DType::kF16) &&
              VKATTN_I32 == static_cast<int>(DType::kI32) && VKATTN_BF16 == static_cast<int>(DType::kBF16));
static_assert(VKATTN_PATH_AUTO == static_cast<int>(KernelPath::kAuto) &&
              VKATTN_PATH_SCALAR == static_cast<int>(KernelPath::kScalar) &&
              VKATTN_PATH_COOPMAT == static_cast<int>(KernelPath::kCoopmat) &&
              VKATTN_PATH_COOPMAT_KHR == static_cast<int>(KernelPath::kCoopmatKhr) &&
              VKATTN_PATH_COOPMAT2 == static_cast<int>(KernelPath::kCoopmat2));
static_assert(VKATTN_ALIGN_TOP_LEFT == static_cast<int>(Align::kTopLeft) &&
              VKATTN_ALIGN_BOTTOM_RIGHT == static_cast<int>(Align::kBottomRight));
static_assert(VKATTN_ALIBI_PER_HEAD == static_cast<int>(Alibi::kPerHead) &&
              VKATTN_ALIBI_PER_BATCH_HEAD == static_cast<int>(Alibi::kPerBatchHead));
static_assert(static_cast<int>(LogLevel::kInfo) == 0 && static_cast<int>(LogLevel::kWarning) == 1 &&
              static_cast<int>(LogLevel::kError) == 2);
static_assert(kMaxRank == 4, "vkattn_tensor_view holds 4 dims");

thread_local std::string t_last_error;

vkattn_status report(const Status& s) {
  if (s.is_ok()) return VKATTN_OK;
  t_last_error = s.message();
  return static_cast<vkattn_status>(s.code());
}

vkattn_status invalid_arg(const std::string& message) { return report(Status(ErrorCode::kInvalidArgument, message)); }

// Runs `f` (returning a vkattn_status); an exception (allocation failure) becomes an error, never
// crosses the C boundary.
template <class F>
vkattn_status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return report(Status(ErrorCode::kOutOfMemory, "out of host memory"));
  } catch (const std::exception& e) {
    return report(Status(ErrorCode::kInvalidArgument, e.what()));
  }
}

ContextOptions options_of(const vkattn_context_options* o) {
  ContextOptions c;
  if (o == nullptr) return c;
  if (o->device != nullptr) c.device = o->device;
  c.enable_validation = o->enable_validation != 0;
  c.force_pooled_descriptors = o->force_pooled_descriptors != 0;
  c.pipeline_cache.persist = o->persist_pipeline_cache != 0;
  if (o->pipeline_cache_path != nullptr) c.pipeline_cache.path = o->pipeline_cache_path;
  c.overrides.path = static_cast<KernelPath>(o->path);
  if (o->log != nullptr) {
    const vkattn_log_fn fn = o->log;
    void* const user = o->log_user;
    c.log = [fn, user](LogLevel level, std::string_view message) {
      const std::string text(message);  // NUL-terminated for C
      fn(static_cast<int>(level), text.c_str(), user);
    };
  }
  return c;
}

TensorView view_of(const vkattn_tensor_view& v) {
  TensorView t;
  t.buffer = v.buffer;
  t.buffer_size = v.buffer_size;
  t.offset = v.offset;
  t.dtype = static_cast<DType>(v.dtype);
  t.rank = v.rank;
  for (int i = 0; i < kMaxRank; ++i) {
    t.shape[static_cast<std::size_t>(i)] = v.shape[i];
    t.strides[static_cast<std::size_t>(i)] = v.strides[i];
  }
  return t;
}

vkattn_tensor_view c_view_of(const TensorView& t) {
  vkattn_tensor_view v{};
  v.buffer = t.buffer;
  v.buffer_size = t.buffer_size;
  v.offset = t.offset;
  v.dtype = static_cast<vkattn_dtype>(t.dtype);
  v.rank = t.rank;
  for (int i = 0; i < kMaxRank; ++i) {
    v.shape[i] = t.shape[static_cast<std::size_t>(i)];
    v.strides[i] = t.strides[static_cast<std::size_t>(i)];
  }
  return v;
}

std::optional<TensorView> optional_view(const vkattn_tensor_view* v) {
  return v != nullptr ? std::optional<TensorView>(view_of(*v)) : std::nullopt;
}

// A C array of `count` int32 (NULL with count 0: absent), named for the message.
Status int_array(const int32_t* data, std::size_t count, const char* name, std::vector<std::int32_t>& out) {
  if (data == nullptr && count != 0) {
    return Status(ErrorCode::kInvalidArgument,
                  std::string("desc.") + name + " is NULL with a count of " + std::to_string(count));
  }
  if (data != nullptr && count == 0) {  // an array the caller meant to pass, with its count forgotten
    return Status(ErrorCode::kInvalidArgument, std::string("desc.") + name + " is not NULL but its count is 0");
  }
  out.assign(data, data + count);
  return Status::ok();
}

#define VKATTN_C_TRY(expr)              \
  do {                                  \
    const Status c_try_s_ = (expr);     \
    if (!c_try_s_) return c_try_s_;     \
  } while (0)

// The paged-cache fields shared by the attention and append descs.
Status paged_of(std::int64_t block_size, std::int64_t num_blocks, std::int64_t max_blocks, const int32_t* table,
                std::size_t table_count, const int32_t* lens, std::size_t lens_count, PagedKV& out) {
  out.block_size = block_size, out.num_blocks = num_blocks, out.max_blocks = max_blocks;
  VKATTN_C_TRY(int_array(table, table_count, "block_table", out.block_table));
  return int_array(lens, lens_count, "cache_lens", out.cache_lens);
}

Result<AttentionDesc> desc_of(const vkattn_attention_desc* c) {
  if (c == nullptr) return Status(ErrorCode::kInvalidArgument, "desc is NULL");
  AttentionDesc d;
  d.dtype = static_cast<DType>(c->dtype);
  d.batch = c->batch;
  d.q_heads = c->q_heads;
  d.kv_heads = c->kv_heads;
  d.seq_q = c->seq_q;
  d.seq_k = c->seq_k;
  d.head_dim = c->head_dim;
  d.head_dim_v = c->head_dim_v;
  d.mask.causal = c->causal != 0;
  if (c->has_window_left) d.mask.window_left = c->window_left;
  if (c->has_window_right) d.mask.window_right = c->window_right;
  d.mask.align = static_cast<Align>(c->align);
  d.mask.documents = c->documents != 0;
  d.mask.q_offset = c->q_offset;
  d.mask.k_offset = c->k_offset;
  if (c->has_softcap) d.score_mod.softcap = c->softcap;
  d.score_mod.alibi = static_cast<Alibi>(c->alibi);
  if (c->has_rel_pos) d.score_mod.rel_pos_max_distance = c->rel_pos_max_distance;
  if (c->has_bias) d.score_mod.bias = static_cast<DType>(c->bias_dtype);
  d.score_mod.sinks = c->sinks != 0;
  Status s = int_array(c->seq_lens_q, c->seq_lens_q_count, "seq_lens_q", d.sequences.seq_lens_q);
  if (s) s = int_array(c->seq_lens_kv, c->seq_lens_kv_count, "seq_lens_kv", d.sequences.seq_lens_kv);
  if (s) s = int_array(c->cu_seqlens_q, c->cu_seqlens_q_count, "cu_seqlens_q", d.sequences.cu_seqlens_q);
  if (s) s = int_array(c->cu_seqlens_k, c->cu_seqlens_k_count, "cu_seqlens_k", d.sequences.cu_seqlens_k);
  if (!s) return s;
  if (c->has_scale) d.scale = c->scale;
  d.write_lse = c->write_lse != 0;
  d.path = static_cast<KernelPath>(c->path);
  VKATTN_C_TRY(paged_of(c->paged_block_size, c->paged_num_blocks, c->paged_max_blocks, c->block_table,
                        c->block_table_count, c->cache_lens, c->cache_lens_count, d.paged_kv));
  d.dropout.p = c->dropout_p;
  d.qk.q_norm = {static_cast<QKNormKind>(c->q_norm_kind), c->q_norm_eps, c->q_norm_scale};
  d.qk.k_norm = {static_cast<QKNormKind>(c->k_norm_kind), c->k_norm_eps, c->k_norm_scale};
  d.qk.rope.style = static_cast<RopeStyle>(c->rope_style);
  d.qk.rope.theta = c->rope_theta;
  d.qk.rope.rotary_dim = c->rope_rotary_dim;
  d.qk.rope.positions = c->rope_positions != 0;
  for (int a = 0; a < 3; ++a) {
    if (c->rope_grid[a] != 0) d.qk.rope.grid.push_back(c->rope_grid[a]);
    if (c->rope_axis_dims[a] != 0) d.qk.rope.axis_dims.push_back(c->rope_axis_dims[a]);
  }
  return d;
}

Result<MergeDesc> merge_desc_of(const vkattn_merge_desc* c) {
  if (c == nullptr) return Status(ErrorCode::kInvalidArgument, "desc is NULL");
  MergeDesc d;
  d.dtype = static_cast<DType>(c->dtype);
  d.part_dtype = static_cast<DType>(c->part_dtype);
  d.batch = c->batch, d.heads = c->heads, d.seq = c->seq, d.head_dim_v = c->head_dim_v, d.num_parts = c->num_parts;
  d.accumulate = c->accumulate != 0;
  d.write_lse = c->write_lse != 0;
  return d;
}

Result<KVAppendDesc> append_desc_of(const vkattn_kv_append_desc* c) {
  if (c == nullptr) return Status(ErrorCode::kInvalidArgument, "desc is NULL");
  KVAppendDesc d;
  d.dtype = static_cast<DType>(c->dtype);
  d.batch = c->batch, d.kv_heads = c->kv_heads, d.head_dim = c->head_dim, d.head_dim_v = c->head_dim_v;
  d.new_tokens = c->new_tokens;
  VKATTN_C_TRY(paged_of(c->paged_block_size, c->paged_num_blocks, c->paged_max_blocks, c->block_table,
                        c->block_table_count, c->cache_lens, c->cache_lens_count, d.paged_kv));
  return d;
}

MergeTensors merge_tensors_of(const vkattn_merge_tensors& c) {
  return {view_of(c.o_parts), c.o_part_stride, view_of(c.lse_parts), c.lse_part_stride, view_of(c.o),
          optional_view(c.lse)};
}

KVAppendTensors append_tensors_of(const vkattn_kv_append_tensors& c) {
  return {view_of(c.k_new),          view_of(c.v_new),          view_of(c.k_cache),
          view_of(c.v_cache),        optional_view(c.block_table), optional_view(c.cache_lens)};
}

ForwardTensors forward_tensors_of(const vkattn_forward_tensors& c) {
  ForwardTensors t;
  t.q = view_of(c.q);
  t.k = view_of(c.k);
  t.v = view_of(c.v);
  t.o = view_of(c.o);
  t.lse = optional_view(c.lse);
  t.bias = optional_view(c.bias);
  t.alibi_slopes = optional_view(c.alibi_slopes);
  t.rel_pos_table = optional_view(c.rel_pos_table);
  t.sinks = optional_view(c.sinks);
  t.doc_ids_q = optional_view(c.doc_ids_q);
  t.doc_ids_kv = optional_view(c.doc_ids_kv);
  t.block_table = optional_view(c.block_table);
  t.cache_lens = optional_view(c.cache_lens);
  t.dropout = {c.dropout_seed, c.dropout_offset};
  t.q_norm_weight = optional_view(c.q_norm_weight);
  t.k_norm_weight = optional_view(c.k_norm_weight);
  t.q_positions = optional_view(c.q_positions);
  t.k_positions = optional_view(c.k_positions);
  return t;
}

BackwardTensors backward_tensors_of(const vkattn_backward_tensors& c) {
  BackwardTensors t;
  t.q = view_of(c.q);
  t.k = view_of(c.k);
  t.v = view_of(c.v);
  t.o = view_of(c.o);
  t.d_o = view_of(c.d_o);
  t.lse = view_of(c.lse);
  t.dq = view_of(c.dq);
  t.dk = view_of(c.dk);
  t.dv = view_of(c.dv);
  t.bias = optional_view(c.bias);
  t.alibi_slopes = optional_view(c.alibi_slopes);
  t.rel_pos_table = optional_view(c.rel_pos_table);
  t.sinks = optional_view(c.sinks);
  t.doc_ids_q = optional_view(c.doc_ids_q);
  t.doc_ids_kv = optional_view(c.doc_ids_kv);
  t.dbias = optional_view(c.dbias);
  t.drel_pos_table = optional_view(c.drel_pos_table);
  t.dsinks = optional_view(c.dsinks);
  t.dropout = {c.dropout_seed, c.dropout_offset};
  t.q_norm_weight = optional_view(c.q_norm_weight);
  t.k_norm_weight = optional_view(c.k_norm_weight);
  t.q_positions = optional_view(c.q_positions);
  t.k_positions = optional_view(c.k_positions);
  t.dq_norm_weight = optional_view(c.dq_norm_weight);
  t.dk_norm_weight = optional_view(c.dk_norm_weight);
  return t;
}

// The plan entry points of both passes: `Handle` owns a ForwardPlan or BackwardPlan, `Convert`
// turns the C tensor struct into the C++ one.
template <class Handle, class Plan, class CDesc, class Make, class DescOf = decltype(&desc_of)>
vkattn_status create_plan(vkattn_context context, const CDesc* desc, Handle** out, Make make,
                          DescOf convert_desc = &desc_of) {
  return guarded([&] {
    if (out == nullptr) return invalid_arg("out is NULL");
    *out = nullptr;
    if (context == nullptr) return invalid_arg("context is NULL");
    auto d = convert_desc(desc);
    if (!d) return report(d.status());
    Result<Plan> p = make(*context->ctx, *d);
    if (!p) return report(p.status());
    *out = new Handle{std::move(p).value()};
    return VKATTN_OK;
  });
}

// Records into `cmd`, or (cmd == VK_NULL_HANDLE with `run`) submits and waits.
template <class Handle, class CTensors, class Convert>
vkattn_status use_plan(Handle* plan, VkCommandBuffer cmd, bool run, const CTensors* tensors, Convert convert) {
  return guarded([&] {
    if (plan == nullptr || tensors == nullptr) return invalid_arg("plan or tensors is NULL");
    return report(run ? plan->plan.run(convert(*tensors)) : plan->plan.record(cmd, convert(*tensors)));
  });
}

template <class Handle>
const char* plan_name(Handle* plan) {
  return plan != nullptr ? plan->plan.variant_name().c_str() : "";
}

}  // namespace

extern "C" {

const char* vkattn_last_error(void) { return t_last_error.c_str(); }

const char* vkattn_version(int* major, int* minor, int* patch) {
  if (major != nullptr) *major = 0;
  if (minor != nullptr) *minor = 2;
  if (patch != nullptr) *patch = 0;
  return "0.2.0";
}

void vkattn_context_options_init(vkattn_context_options* o) {
  if (o == nullptr) return;
  *o = vkattn_context_options{};
  o->persist_pipeline_cache = 1;
  o->path = VKATTN_PATH_AUTO;
}

vkattn_status vkattn_context_create(const vkattn_context_options* options, vkattn_context* out) {
  return guarded([&] {
    if (out == nullptr) return invalid_arg("out is NULL");
    *out = nullptr;
    vkattn_context_options defaults;
    vkattn_context_options_init(&defaults);
    Result<std::unique_ptr<Context>> c = Context::create(options_of(options != nullptr ? options : &defaults));
    if (!c) return report(c.status());
    *out = new vkattn_context_t{std::move(c).value()};
    return VKATTN_OK;
  });
}

vkattn_status vkattn_context_adopt(const vkattn_host_handles* host, const vkattn_context_options* options,
                                   vkattn_context* out) {
  return guarded([&] {
    if (out == nullptr) return invalid_arg("out is NULL");
    *out = nullptr;
    if (host == nullptr) return invalid_arg("host is NULL");
    HostHandles h;
    h.instance = host->instance;
    h.physical_device = host->physical_device;
    h.device = host->device;
    h.queue = host->queue;
    h.queue_family_index = host->queue_family_index;
    for (uint32_t i = 0; i < host->enabled_device_extension_count; ++i) {
      if (host->enabled_device_extensions == nullptr || host->enabled_device_extensions[i] == nullptr) {
        return invalid_arg("host.enabled_device_extensions[" + std::to_string(i) + "] is NULL");
      }
      h.enabled_device_extensions.emplace_back(host->enabled_device_extensions[i]);
    }
    h.debug_utils_enabled = host->debug_utils_enabled != 0;
    vkattn_context_options defaults;
    vkattn_context_options_init(&defaults);
    Result<std::unique_ptr<Context>> c = Context::adopt(h, options_of(options != nullptr ? options : &defaults));
    if (!c) return report(c.status());
    *out = new vkattn_context_t{std::move(c).value()};
    return VKATTN_OK;
  });
}

void vkattn_context_destroy(vkattn_context context) { delete context; }

vkattn_status vkattn_context_device_info(vkattn_context context, vkattn_device_info* out) {
  if (context == nullptr || out == nullptr) return invalid_arg("context or out is NULL");
  const DeviceInfo& i = context->ctx->info();
  *out = vkattn_device_info{};
  std::strncpy(out->name, i.name.c_str(), sizeof out->name - 1);
  out->vendor_id = i.vendor_id;
  out->device_id = i.device_id;
  out->api_version = i.api_version;
  out->subgroup_size = i.subgroup_size;
  out->max_shared_memory = i.max_shared_memory;
  out->coopmat = i.coopmat ? 1 : 0;
  out->coopmat_khr = i.coopmat_khr ? 1 : 0;
  out->coopmat2 = i.coopmat2 ? 1 : 0;
  out->push_descriptors = i.push_descriptors ? 1 : 0;
  return VKATTN_OK;
}

vkattn_tensor_view vkattn_view_contiguous(VkBuffer buffer, VkDeviceSize buffer_size, vkattn_dtype dtype, int32_t rank,
                                          const int64_t* shape, VkDeviceSize offset) {
  TensorView t;
  t.buffer = buffer;
  t.buffer_size = buffer_size;
  t.offset = offset;
  t.dtype = static_cast<DType>(dtype);
  t.rank = shape != nullptr && rank >= 1 && rank <= kMaxRank ? rank : 0;  // rank 0: refused when used
  std::int64_t stride = 1;
  for (int i = t.rank - 1; i >= 0; --i) {
    t.shape[static_cast<std::size_t>(i)] = shape[i];
    t.strides[static_cast<std::size_t>(i)] = stride;
    stride *= shape[i];
  }
  return c_view_of(t);
}

vkattn_status vkattn_tensor_create(vkattn_context context, vkattn_dtype dtype, int32_t rank, const int64_t* shape,
                                   vkattn_tensor* out) {
  return guarded([&] {
    if (out == nullptr) return invalid_arg("out is NULL");
    *out = nullptr;
    if (context == nullptr) return invalid_arg("context is NULL");
    if (rank < 1 || rank > kMaxRank) return invalid_arg("rank = " + std::to_string(rank) + " (must be 1..4)");
    if (shape == nullptr) return invalid_arg("shape is NULL (rank = " + std::to_string(rank) + ")");
    Result<Tensor> t = Tensor::create(*context->ctx, static_cast<DType>(dtype),
                                      std::span<const std::int64_t>(shape, static_cast<std::size_t>(rank)));
    if (!t) return report(t.status());
    *out = new vkattn_tensor_t{std::move(t).value()};
    return VKATTN_OK;
  });
}

vkattn_status vkattn_tensor_upload(vkattn_tensor tensor, const float* values, size_t count) {
  return guarded([&] {
    if (tensor == nullptr || values == nullptr) return invalid_arg("tensor or values is NULL");
    return report(tensor->tensor.upload(std::span<const float>(values, count)));
  });
}

vkattn_status vkattn_tensor_download(vkattn_tensor tensor, float* values, size_t count) {
  return guarded([&] {
    if (tensor == nullptr || values == nullptr) return invalid_arg("tensor or values is NULL");
    const auto n = static_cast<std::size_t>(tensor->tensor.numel());
    if (count != n) {
      return invalid_arg("download: room for " + std::to_string(count) + " values, tensor holds " + std::to_string(n));
    }
    Result<std::vector<float>> v = tensor->tensor.download();
    if (!v) return report(v.status());
    std::memcpy(values, v->data(), n * sizeof(float));
    return VKATTN_OK;
  });
}

vkattn_status vkattn_tensor_fill(vkattn_tensor tensor, float value) {
  return guarded([&] {
    if (tensor == nullptr) return invalid_arg("tensor is NULL");
    return report(tensor->tensor.fill(value));
  });
}

vkattn_tensor_view vkattn_tensor_get_view(vkattn_tensor tensor) {
  return tensor != nullptr ? c_view_of(tensor->tensor.view()) : vkattn_tensor_view{};
}

void vkattn_tensor_destroy(vkattn_tensor tensor) { delete tensor; }

void vkattn_attention_desc_init(vkattn_attention_desc* d) {
  if (d == nullptr) return;
  *d = vkattn_attention_desc{};
  d->dtype = VKATTN_F16;
  d->batch = 1;
  d->q_heads = 1;
  d->align = VKATTN_ALIGN_BOTTOM_RIGHT;
  d->alibi = VKATTN_ALIBI_NONE;
  d->bias_dtype = VKATTN_F32;
  d->write_lse = 1;
  d->path = VKATTN_PATH_AUTO;
  d->q_norm_eps = d->k_norm_eps = 1e-6f;
  d->q_norm_scale = d->k_norm_scale = 1.0f;
  d->rope_theta = 10000.0;
}

int vkattn_dropout_keep(uint64_t seed, uint32_t offset, float p, int64_t q_heads, int64_t b, int64_t h, int64_t i,
                        int64_t j) {
  const auto refuse = [](const std::string& what) {
    try {
      invalid_arg("vkattn_dropout_keep: " + what);
    } catch (...) {  // allocating the message: the -1 still says it
    }
    return -1;
  };
  if (!(p >= 0.0f && p < 1.0f)) return refuse("p = " + std::to_string(p) + " is outside [0, 1)");
  if (q_heads < 1) return refuse("q_heads = " + std::to_string(q_heads) + " is below 1");
  if (h >= q_heads) return refuse("h = " + std::to_string(h) + " is not below q_heads = " + std::to_string(q_heads));
  const std::pair<const char*, std::int64_t> indices[] = {{"b", b}, {"h", h}, {"i", i}, {"j", j}};
  for (const auto& [name, v] : indices) {
    if (v < 0) return refuse(std::string(name) + " = " + std::to_string(v) + " is negative");
  }
  return dropout_keep(DropoutRng{seed, offset}, p, q_heads, b, h, i, j) ? 1 : 0;
}

vkattn_status vkattn_forward_plan_create(vkattn_context context, const vkattn_attention_desc* desc,
                                         vkattn_forward_plan* out) {
  return create_plan<vkattn_forward_plan_t, ForwardPlan>(
      context, desc, out, [](Context& ctx, const AttentionDesc& d) { return ForwardPlan::create(ctx, d); });
}

vkattn_status vkattn_forward_plan_record(vkattn_forward_plan plan, VkCommandBuffer cmd,
                                         const vkattn_forward_tensors* tensors) {
  return use_plan(plan, cmd, false, tensors, forward_tensors_of);
}

vkattn_status vkattn_forward_plan_run(vkattn_forward_plan plan, const vkattn_forward_tensors* tensors) {
  return use_plan(plan, VK_NULL_HANDLE, true, tensors, forward_tensors_of);
}

const char* vkattn_forward_plan_variant_name(vkattn_forward_plan plan) { return plan_name(plan); }

void vkattn_forward_plan_destroy(vkattn_forward_plan plan) { delete plan; }

vkattn_status vkattn_backward_plan_create(vkattn_context context, const vkattn_attention_desc* desc,
                                          int fast_nondeterministic, vkattn_backward_plan* out) {
  BackwardOptions options;
  options.determinism = fast_nondeterministic != 0 ? Determinism::kFast : Determinism::kDeterministic;
  return create_plan<vkattn_backward_plan_t, BackwardPlan>(
      context, desc, out, [&](Context& ctx, const AttentionDesc& d) { return BackwardPlan::create(ctx, d, options); });
}

vkattn_status vkattn_backward_plan_record(vkattn_backward_plan plan, VkCommandBuffer cmd,
                                          const vkattn_backward_tensors* tensors) {
  return use_plan(plan, cmd, false, tensors, backward_tensors_of);
}

vkattn_status vkattn_backward_plan_run(vkattn_backward_plan plan, const vkattn_backward_tensors* tensors) {
  return use_plan(plan, VK_NULL_HANDLE, true, tensors, backward_tensors_of);
}

const char* vkattn_backward_plan_variant_name(vkattn_backward_plan plan) { return plan_name(plan); }

void vkattn_backward_plan_destroy(vkattn_backward_plan plan) { delete plan; }

vkattn_status vkattn_merge_plan_create(vkattn_context context, const vkattn_merge_desc* desc, vkattn_merge_plan* out) {
  return create_plan<vkattn_merge_plan_t, MergePlan>(
      context, desc, out, [](Context& ctx, const MergeDesc& d) { return MergePlan::create(ctx, d); }, &merge_desc_of);
}

vkattn_status vkattn_merge_plan_record(vkattn_merge_plan plan, VkCommandBuffer cmd, const vkattn_merge_tensors* tensors) {
  return use_plan(plan, cmd, false, tensors, merge_tensors_of);
}

vkattn_status vkattn_merge_plan_run(vkattn_merge_plan plan, const vkattn_merge_tensors* tensors) {
  return use_plan(plan, VK_NULL_HANDLE, true, tensors, merge_tensors_of);
}

const char* vkattn_merge_plan_variant_name(vkattn_merge_plan plan) { return plan_name(plan); }

void vkattn_merge_plan_destroy(vkattn_merge_plan plan) { delete plan; }

vkattn_status vkattn_kv_append_plan_create(vkattn_context context, const vkattn_kv_append_desc* desc,
                                           vkattn_kv_append_plan* out) {
  return create_plan<vkattn_kv_append_plan_t, KVAppendPlan>(
      context, desc, out, [](Context& ctx, const KVAppendDesc& d) { return KVAppendPlan::create(ctx, d); },
      &append_desc_of);
}

vkattn_status vkattn_kv_append_plan_record(vkattn_kv_append_plan plan, VkCommandBuffer cmd,
                                           const vkattn_kv_append_tensors* tensors) {
  return use_plan(plan, cmd, false, tensors, append_tensors_of);
}

vkattn_status vkattn_kv_append_plan_run(vkattn_kv_append_plan plan, const vkattn_kv_append_tensors* tensors) {
  return use_plan(plan, VK_NULL_HANDLE, true, tensors, append_tensors_of);
}

const char* vkattn_kv_append_plan_variant_name(vkattn_kv_append_plan plan) { return plan_name(plan); }

void vkattn_kv_append_plan_destroy(vkattn_kv_append_plan plan) { delete plan; }

}  // extern "C"
