#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <utility>

#include "base/checked_product.hpp"
#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"
#include "kernels/attn_kv_append_interface.hpp"
#include "kernels/kernel.hpp"
#include "planning/paged_tables.hpp"
#include "planning/tensor_checks.hpp"
#include "plans/run_isolated.hpp"
#include "vkattn/context.hpp"
#include "vkattn/kv_append.hpp"

namespace vkattn {
namespace {

struct BoundAppend {
  std::array<VkDescriptorBufferInfo, kAppendBindingCount> descriptors{};
  AppendPushConstants push;
};

constexpr std::uint32_t kAppendWorkgroup = 64;  // attn_kv_append.comp's local_size_x

void set4(const BoundView& v, std::uint32_t& offset, std::uint32_t& sb, std::uint32_t& sh, std::uint32_t& ss) {
  offset = v.element_offset, sb = v.strides[0], sh = v.strides[1], ss = v.strides[2];
}

}  // namespace

struct KVAppendPlan::Impl {
  Impl(Context& c, KVAppendDesc d) : ctx(&c), desc(std::move(d)) { context_state(c).live_children.fetch_add(1); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { context_state(*ctx).live_children.fetch_sub(1); }

  Context* ctx;
  KVAppendDesc desc;
  std::int64_t dv = 0;
  std::string name;
  WorkgroupCount grid{};
  Kernel kernel;
  BufferAlloc tables;  // host tables: block_table then cache_lens

  Result<BoundAppend> bind(const KVAppendTensors& t) const {
    const Device& device = *context_state(*ctx).device;
    const PagedKV& pk = desc.paged_kv;
    const std::array<std::int64_t, 4> k_new_shape{desc.batch, desc.kv_heads, desc.new_tokens, desc.head_dim};
    const std::array<std::int64_t, 4> v_new_shape{desc.batch, desc.kv_heads, desc.new_tokens, dv};
    const std::array<std::int64_t, 4> k_shape{pk.num_blocks, desc.kv_heads, pk.block_size, desc.head_dim};
    const std::array<std::int64_t, 4> v_shape{pk.num_blocks, desc.kv_heads, pk.block_size, dv};
    static constexpr std::array<const char*, 4> kNewK{"B", "Hkv", "Snew", "Dk"}, kNewV{"B", "Hkv", "Snew", "Dv"};
    static constexpr std::array<const char*, 4> kCacheK{"paged_kv.num_blocks", "Hkv", "paged_kv.block_size", "Dk"};
    static constexpr std::array<const char*, 4> kCacheV{"paged_kv.num_blocks", "Hkv", "paged_kv.block_size", "Dv"};
    Result<BoundView> kn = check_view(device, t.k_new, {"k_new", k_new_shape, kNewK, desc.dtype});
    if (!kn) return kn.status();
    Result<BoundView> vn = check_view(device, t.v_new, {"v_new", v_new_shape, kNewV, desc.dtype});
    if (!vn) return vn.status();
    Result<BoundView> kc = check_view(device, t.k_cache, {"k_cache", k_shape, kCacheK, desc.dtype, true, true});
    if (!kc) return kc.status();
    Result<BoundView> vc = check_view(device, t.v_cache, {"v_cache", v_shape, kCacheV, desc.dtype, true, true});
    if (!vc) return vc.status();
    VKATTN_TRY(check_no_overlap(*kc, "k_cache", t.k_cache, *vc, "v_cache", t.v_cache));
    for (const auto& [in, in_name, view] : {std::tuple{&*kn, "k_new", &t.k_new}, std::tuple{&*vn, "v_new", &t.v_new}}) {
      VKATTN_TRY(check_no_overlap(*kc, "k_cache", t.k_cache, *in, in_name, *view));
      VKATTN_TRY(check_no_overlap(*vc, "v_cache", t.v_cache, *in, in_name, *view));
    }
    BoundAppend b;
    AppendPushConstants& p = b.push;
    b.descriptors[kAppendKNew] = kn->descriptor;
    b.descriptors[kAppendVNew] = vn->descriptor;
    b.descriptors[kAppendKCache] = kc->descriptor;
    b.descriptors[kAppendVCache] = vc->descriptor;
    set4(*kn, p.k_new_offset, p.k_new_stride_b, p.k_new_stride_h, p.k_new_stride_s);
    set4(*vn, p.v_new_offset, p.v_new_stride_b, p.v_new_stride_h, p.v_new_stride_s);
    set4(*kc, p.k_offset, p.k_stride_b, p.k_stride_h, p.k_stride_s);
    set4(*vc, p.v_offset, p.v_stride_b, p.v_stride_h, p.v_stride_s);
    p.kv_heads = static_cast<std::uint32_t>(desc.kv_heads);
    p.new_tokens = static_cast<std::uint32_t>(desc.new_tokens);
    if (pk.host_tables()) {
      if (t.block_table || t.cache_lens) {
        return invalid(std::string(t.block_table ? "block_table" : "cache_lens") +
                       " is given but desc.paged_kv holds host tables");
      }
      const VkDescriptorBufferInfo all{tables.buffer, 0, tables.size};
      b.descriptors[kAppendPages] = b.descriptors[kAppendCacheLens] = all;
      p.pages_stride_b = static_cast<std::uint32_t>(pk.max_blocks);
      p.lens_offset = static_cast<std::uint32_t>(pk.block_table.size());
      return b;
    }
    if (!t.block_table || !t.cache_lens) {
      return invalid(std::string(!t.block_table ? "block_table" : "cache_lens") +
                     " is missing (desc.paged_kv has no host tables)");
    }
    const std::array<std::int64_t, 2> table_shape{desc.batch, pk.max_blocks};
    static constexpr std::array<const char*, 2> kTable{"B", "paged_kv.max_blocks"};
    const std::array<std::int64_t, 1> lens_shape{desc.batch};
    static constexpr std::array<const char*, 1> kLens{"B"};
    Result<BoundView> bt = check_view(device, *t.block_table, {"block_table", table_shape, kTable, DType::kI32});
    if (!bt) return bt.status();
    Result<BoundView> cl =
        check_view(device, *t.cache_lens, {"cache_lens", lens_shape, kLens, DType::kI32, true, false, false, true});
    if (!cl) return cl.status();
    for (const auto& [in, in_name, view] :
         {std::tuple{&*bt, "block_table", &*t.block_table}, std::tuple{&*cl, "cache_lens", &*t.cache_lens}}) {
      VKATTN_TRY(check_no_overlap(*kc, "k_cache", t.k_cache, *in, in_name, *view));
      VKATTN_TRY(check_no_overlap(*vc, "v_cache", t.v_cache, *in, in_name, *view));
    }
    b.descriptors[kAppendPages] = bt->descriptor;
    b.descriptors[kAppendCacheLens] = cl->descriptor;
    p.pages_offset = bt->element_offset;
    p.pages_stride_b = bt->strides[0];
    p.lens_offset = cl->element_offset;
    return b;
  }

  Status record_bound(VkCommandBuffer cmd, const BoundAppend& b) {
    VKATTN_TRY(kernel.reserve(b.descriptors));
    return kernel.record(cmd, b.descriptors, b.push, grid);
  }
};

KVAppendPlan::KVAppendPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KVAppendPlan::KVAppendPlan(KVAppendPlan&&) noexcept = default;
KVAppendPlan& KVAppendPlan::operator=(KVAppendPlan&&) noexcept = default;
KVAppendPlan::~KVAppendPlan() = default;

Result<KVAppendPlan> KVAppendPlan::create(Context& ctx, const KVAppendDesc& d) {
  if (d.dtype != DType::kF32 && d.dtype != DType::kF16 && d.dtype != DType::kBF16) {
    return invalid(std::string("desc.dtype = ") + dtype_text(d.dtype) + " (must be f32, f16 or bf16)");
  }
  if (d.batch < 1) return invalid("desc.batch = " + num(d.batch) + " (must be >= 1)");
  if (d.kv_heads < 1) return invalid("desc.kv_heads = " + num(d.kv_heads) + " (must be >= 1)");
  // (batch, KV head) pairs are a grid dimension (checked against the device below): bounded here
  // so that the product cannot wrap.
  if (Result<std::int64_t> pairs = checked_product({{"desc.batch", d.batch}, {"desc.kv_heads", d.kv_heads}},
                                                   std::int64_t{1} << 31, "2^31", "(batch, KV head) pairs");
      !pairs) {
    return pairs.status();
  }
  for (const auto& [field, v] : {std::pair{"desc.head_dim", d.head_dim}, std::pair{"desc.head_dim_v", d.head_dim_v}}) {
    if ((v != 0 || std::string(field) == "desc.head_dim") && (v < 8 || v > 256 || v % 8 != 0)) {
      return invalid(std::string(field) + " = " + num(v) + " (must be a multiple of 8 in [8, 256])");
    }
  }
  if (d.new_tokens < 1) return invalid("desc.new_tokens = " + num(d.new_tokens) + " (must be >= 1)");
  if (!d.paged_kv.enabled()) return invalid("desc.paged_kv.block_size = 0 (an append needs a paged cache)");
  VKATTN_TRY(check_paged_shape(d.paged_kv));
  const std::int64_t capacity = d.paged_kv.max_blocks * d.paged_kv.block_size;
  if (d.new_tokens > capacity) {
    return invalid("desc.new_tokens = " + num(d.new_tokens) + " exceeds max_blocks * block_size = " + num(capacity));
  }
  if (d.paged_kv.host_tables()) {
    VKATTN_TRY(check_host_tables(d.paged_kv, d.batch, capacity, "max_blocks * block_size", d.new_tokens));
  }
  ContextState& s = context_state(ctx);
  const Device& device = *s.device;
  auto impl = std::make_unique<Impl>(ctx, d);
  impl->dv = d.head_dim_v != 0 ? d.head_dim_v : d.head_dim;
  AppendSpecConstants spec;
  spec.head_dim = static_cast<std::uint32_t>(d.head_dim);
  spec.head_dim_v = static_cast<std::uint32_t>(impl->dv);
  spec.dtype = static_cast<std::uint32_t>(d.dtype);
  spec.paged_shift = 0;
  while ((std::int64_t{1} << spec.paged_shift) < d.paged_kv.block_size) ++spec.paged_shift;
  impl->name = "kv_append_d" + num(d.head_dim) + (impl->dv != d.head_dim ? "v" + num(impl->dv) : "") + "_" +
               to_string(d.dtype) + "_paged" + num(d.paged_kv.block_size) +
               (d.paged_kv.host_tables() ? "" : "_devtables");
  const std::int64_t row4 = std::max(d.head_dim, impl->dv) / 4;
  const std::int64_t groups_x = (d.new_tokens * row4 + kAppendWorkgroup - 1) / kAppendWorkgroup;
  const std::int64_t groups_y = d.batch * d.kv_heads;
  if (groups_x > device.info.max_workgroup_count[0] || groups_y > device.info.max_workgroup_count[1]) {
    return invalid("desc.new_tokens = " + num(d.new_tokens) + " with desc.batch * desc.kv_heads = " + num(groups_y) +
                   " needs more workgroups than maxComputeWorkGroupCount allows");
  }
  impl->grid = {static_cast<std::uint32_t>(groups_x), static_cast<std::uint32_t>(groups_y), 1};
  const auto map = append_spec_map();
  const KernelBuild build{ShaderId::kAttnKvAppend, spec_words(spec), map, impl->name, kAppendBindingCount,
                          sizeof(AppendPushConstants)};
  Result<Kernel> kernel = Kernel::create(device, *s.pipelines, build);
  if (!kernel) return kernel.status();
  impl->kernel = std::move(kernel).value();
  if (d.paged_kv.host_tables()) {
    std::vector<std::int32_t> tables = d.paged_kv.block_table;
    tables.insert(tables.end(), d.paged_kv.cache_lens.begin(), d.paged_kv.cache_lens.end());
    VKATTN_TRY(create_host_written_buffer(device, std::as_bytes(std::span(tables)), impl->tables));
  }
  return KVAppendPlan(std::move(impl));
}

const std::string& KVAppendPlan::variant_name() const { return impl_->name; }
const KVAppendDesc& KVAppendPlan::desc() const { return impl_->desc; }
Status KVAppendPlan::validate(const KVAppendTensors& t) const { return impl_->bind(t).status(); }

Status KVAppendPlan::record(VkCommandBuffer cmd, const KVAppendTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundAppend> b = impl_->bind(t);
  if (!b) return b.status();
  return impl_->record_bound(cmd, *b);
}

Status KVAppendPlan::run(const KVAppendTensors& t) {
  Result<BoundAppend> b = impl_->bind(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_bound(cmd, *b); });
}

void KVAppendPlan::release_descriptor_sets() { impl_->kernel.release_sets(); }

}  // namespace vkattn
