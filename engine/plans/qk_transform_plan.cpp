#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/checked_product.hpp"
#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"
#include "kernels/attn_enums.hpp"
#include "kernels/kernel.hpp"
#include "kernels/qk_transform_interface.hpp"
#include "planning/tensor_checks.hpp"
#include "plans/run_isolated.hpp"
#include "vkattn/context.hpp"
#include "vkattn/qk_transform.hpp"

namespace vkattn {
namespace {

// qk_transform.comp's work layout: workgroups of 256 invocations where the device allows (Vulkan
// guarantees 128), ROW_LANES invocations per row and 256 / ROW_LANES rows in flight per workgroup.
// A lane owns about kPairsPerLane pairs (and words) of its row: that many independent loads in
// flight per lane, and enough rows per step for the memory system (the H100 ran the pass at a fifth
// of its memory roofline with one or two words per lane, 4 rows of D = 128 per step). ROW_LANES is
// a power of two from 4 (the row sums add the parts four at a time) to 16, raised where a step's
// rows would not fit in shared memory.
constexpr std::uint32_t kWorkgroup = 256;
constexpr std::uint32_t kPairsPerLane = 4;
constexpr std::uint32_t kMinRowLanes = 4;
constexpr std::uint32_t kMaxRowLanes = 16;
// A workgroup holds 256 / ROW_LANES consecutive tokens and walks heads for them (computing each
// lane's rotations once for all). Heads are split over workgroups only as far as it takes to have
// about kTargetGroups workgroups, enough to fill a large GPU (the H100 holds 132 x 8); the reduce
// pass adds one dweight part per workgroup.
constexpr std::uint32_t kTargetGroups = 1024;

// qk_transform.comp's shared memory: x (or dx) and dY of each row in flight, the lanes' parts of a
// row sum, and the reduce pass's tree.
std::uint64_t qk_shared_bytes(std::uint32_t workgroup, std::uint32_t row_lanes, std::uint32_t head_dim) {
  const std::uint64_t rows = workgroup / row_lanes;
  return 4 * (2 * rows * head_dim + 2 * std::uint64_t{workgroup});
}
constexpr std::uint32_t kNoAxis = 0xFFFFFFFFu;   // a pair that does not rotate

struct BoundQK {
  std::array<VkDescriptorBufferInfo, kQKBindingCount> descriptors{};
  QKPushConstants push;
  bool dweight = false;
};

// A checked input and the view it came from (for the outputs' overlap checks).
struct CheckedInput {
  const char* name;
  const TensorView* view;
  BoundView bound;
};

bool same_view(const TensorView& a, const TensorView& b) {
  return a.buffer == b.buffer && a.offset == b.offset && a.rank == b.rank && a.strides == b.strides &&
         a.shape == b.shape && a.dtype == b.dtype;
}

void set_rows(const BoundView& v, std::uint32_t& offset, std::uint32_t& sb, std::uint32_t& sh, std::uint32_t& ss) {
  offset = v.element_offset, sb = v.strides[0], sh = v.strides[1], ss = v.strides[2];
}

// The pair table: per pair k, (a | b << 16, axis or kNoAxis, g_hi, g_lo) with f = theta^(-2i/d)
// for the i-th pair of its axis's chunk of d dims and g = f / (2 pi) as a 64-bit fixed-point
// fraction (qk_transform.comp's reduce_angle).
std::vector<std::array<std::uint32_t, 4>> pair_table(const QKTransformDesc& d) {
  std::vector<std::array<std::uint32_t, 4>> pairs;
  const std::int64_t D = d.head_dim;
  std::int64_t rotary = 0;
  if (d.rope.style != RopeStyle::kNone) {
    const std::vector<std::int64_t> dims = rope_axis_dims(d.rope, D);
    const std::vector<std::int64_t> chunks = dims.empty() ? std::vector<std::int64_t>{d.rope.rotary_dim != 0 ? d.rope.rotary_dim : D} : dims;
    for (std::size_t axis = 0; axis < chunks.size(); ++axis) {
      const std::int64_t len = chunks[axis], half = len / 2;
      for (std::int64_t i = 0; i < half; ++i) {
        // f / (2 pi) in [0, 1/(2 pi)] as the 64-bit fraction g_hi 2^-32 + g_lo 2^-64.
        const double f = std::pow(d.rope.theta, -2.0 * static_cast<double>(i) / static_cast<double>(len));
        const double turns = f / (2.0 * 3.14159265358979323846) * 4294967296.0;
        const double g_hi = std::floor(turns);
        const double g_lo = std::floor((turns - g_hi) * 4294967296.0 + 0.5);
        const auto hi = static_cast<std::uint32_t>(g_hi);
        const auto lo = static_cast<std::uint32_t>(std::min(g_lo, 4294967295.0));
        const std::int64_t a = d.rope.style == RopeStyle::kRotateHalf ? rotary + i : rotary + 2 * i;
        const std::int64_t b = d.rope.style == RopeStyle::kRotateHalf ? rotary + i + half : rotary + 2 * i + 1;
        pairs.push_back({static_cast<std::uint32_t>(a | (b << 16)), static_cast<std::uint32_t>(axis), hi, lo});
      }
      rotary += len;
    }
  }
  for (std::int64_t e = rotary; e < D; e += 2) {
    pairs.push_back({static_cast<std::uint32_t>(e | ((e + 1) << 16)), kNoAxis, 0, 0});
  }
  return pairs;
}

Status check_desc(const QKTransformDesc& d) {
  if (d.dtype != DType::kF32 && d.dtype != DType::kF16 && d.dtype != DType::kBF16) {
    return invalid(std::string("desc.dtype = ") + dtype_text(d.dtype) + " (must be f32, f16 or bf16)");
  }
  for (const auto& [field, v] : {std::pair{"desc.batch", d.batch}, std::pair{"desc.heads", d.heads},
                                 std::pair{"desc.seq", d.seq}}) {
    if (v < 1 || v > (std::int64_t{1} << 28)) return invalid(std::string(field) + " = " + num(v) + " (must be in [1, 2^28])");
  }
  if (d.head_dim < 8 || d.head_dim > 256 || d.head_dim % 8 != 0) {
    return invalid("desc.head_dim = " + num(d.head_dim) + " (must be a multiple of 8 in [8, 256])");
  }
  Result<std::int64_t> rows = checked_product({{"desc.batch", d.batch}, {"desc.heads", d.heads}, {"desc.seq", d.seq}},
                                              std::int64_t{1} << 31, "2^31", "rows");
  if (!rows) return rows.status();
  const QKNorm& n = d.norm;
  if (static_cast<std::uint32_t>(n.kind) > 2) return invalid("desc.norm.kind = " + num(static_cast<std::int64_t>(n.kind)) + " is not a QKNormKind");
  if (n.kind != QKNormKind::kNone && !(n.eps > 0.0f && std::isfinite(n.eps))) {
    return invalid("desc.norm.eps = " + num_real(n.eps) + " (must be finite and > 0)");
  }
  if (!std::isfinite(n.scale)) {  // (used by L2 only, but never accepted malformed)
    return invalid("desc.norm.scale = " + num_real(n.scale) + " (must be finite)");
  }
  const Rope& r = d.rope;
  if (static_cast<std::uint32_t>(r.style) > 2) return invalid("desc.rope.style = " + num(static_cast<std::int64_t>(r.style)) + " is not a RopeStyle");
  if (!(r.theta > 1.0 && std::isfinite(r.theta))) return invalid("desc.rope.theta = " + num_real(r.theta) + " (must be finite and > 1)");
  if (r.style == RopeStyle::kNone) {  // RoPE's options without RoPE are refused, not ignored
    if (r.positions) return invalid("desc.rope.positions = true without desc.rope.style");
    if (!r.grid.empty()) return invalid("desc.rope.grid is given without desc.rope.style");
    if (!r.axis_dims.empty()) return invalid("desc.rope.axis_dims is given without desc.rope.style");
    if (r.rotary_dim != 0) return invalid("desc.rope.rotary_dim = " + num(r.rotary_dim) + " without desc.rope.style");
    return Status::ok();
  }
  const std::int64_t rd = r.rotary_dim != 0 ? r.rotary_dim : d.head_dim;
  if (rd < 2 || rd > d.head_dim || rd % 2 != 0) {
    return invalid("desc.rope.rotary_dim = " + num(r.rotary_dim) + " (must be even, in [2, desc.head_dim = " +
                   num(d.head_dim) + "], or 0 for all of it)");
  }
  if (r.grid.empty()) {
    if (!r.axis_dims.empty()) return invalid("desc.rope.axis_dims is given without desc.rope.grid");
    if (r.position_offset < -(std::int64_t{1} << 24) || r.position_offset > (std::int64_t{1} << 24)) {
      return invalid("desc.rope.position_offset = " + num(r.position_offset) + " (must be in [-2^24, 2^24])");
    }
    return Status::ok();
  }
  if (r.grid.size() < 2 || r.grid.size() > 3) {
    return invalid("desc.rope.grid has " + num(static_cast<std::int64_t>(r.grid.size())) + " axes (2 or 3; 1D RoPE needs none)");
  }
  if (r.positions) return invalid("desc.rope.positions = true with desc.rope.grid (a grid gives the positions)");
  std::int64_t cells = 1;
  for (std::size_t a = 0; a < r.grid.size(); ++a) {
    if (r.grid[a] < 1 || r.grid[a] > (std::int64_t{1} << 24)) {
      return invalid("desc.rope.grid[" + num(static_cast<std::int64_t>(a)) + "] = " + num(r.grid[a]) + " (must be in [1, 2^24])");
    }
    cells *= r.grid[a];
  }
  if (cells != d.seq) return invalid("desc.rope.grid's extents multiply to " + num(cells) + ", not desc.seq = " + num(d.seq));
  if (!r.axis_dims.empty()) {
    if (r.axis_dims.size() != r.grid.size()) {
      return invalid("desc.rope.axis_dims has " + num(static_cast<std::int64_t>(r.axis_dims.size())) + " entries for " +
                     num(static_cast<std::int64_t>(r.grid.size())) + " grid axes");
    }
    std::int64_t sum = 0;
    for (std::size_t a = 0; a < r.axis_dims.size(); ++a) {
      const std::int64_t v = r.axis_dims[a];
      if (v < 2 || v % 2 != 0) {
        return invalid("desc.rope.axis_dims[" + num(static_cast<std::int64_t>(a)) + "] = " + num(v) + " (must be even and >= 2)");
      }
      sum += v;
    }
    if (sum != rd) return invalid("desc.rope.axis_dims sum to " + num(sum) + ", not the rotary dims " + num(rd));
  } else if (rd / 2 < static_cast<std::int64_t>(r.grid.size())) {
    return invalid("desc.rope.rotary_dim = " + num(rd) + " is too small to split over " +
                   num(static_cast<std::int64_t>(r.grid.size())) + " axes");
  }
  return Status::ok();
}

}  // namespace

std::vector<std::int64_t> rope_axis_dims(const Rope& rope, std::int64_t head_dim) {
  if (rope.grid.empty()) return {};
  if (!rope.axis_dims.empty()) return rope.axis_dims;
  const std::int64_t rd = rope.rotary_dim != 0 ? rope.rotary_dim : head_dim;
  const auto n = static_cast<std::int64_t>(rope.grid.size());
  const std::int64_t each = rd / n / 2 * 2;  // equal parts rounded down to even
  std::vector<std::int64_t> dims(static_cast<std::size_t>(n), each);
  dims[0] = rd - each * (n - 1);  // axis 0 takes what is left
  return dims;
}

struct QKTransformPlan::Impl {
  Impl(Context& c, QKTransformDesc d) : ctx(&c), desc(std::move(d)) { context_state(c).live_children.fetch_add(1); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { context_state(*ctx).live_children.fetch_sub(1); }

  Context* ctx;
  QKTransformDesc desc;
  std::string name;
  Kernel forward, backward, reduce;
  BufferAlloc pairs;  // the pair table
  BufferAlloc parts;  // kRMS: the backward's dweight parts, [groups][D]
  std::uint32_t token_blocks = 0, head_chunks = 0, heads_per_group = 0, groups = 0;

  // Checks the views both passes share (x, weight, positions), fills their bindings and adds
  // them to `inputs`.
  Status bind_inputs(const TensorView& x, const std::optional<TensorView>& weight,
                     const std::optional<TensorView>& positions, BoundQK& b, std::vector<CheckedInput>& inputs) const {
    const Device& device = *context_state(*ctx).device;
    const QKTransformDesc& d = desc;
    Result<BoundView> xv = check_view(device, x, {"x", row_shape(), kRowDims, d.dtype});
    if (!xv) return xv.status();
    inputs.push_back({"x", &x, *xv});
    const VkDescriptorBufferInfo table{pairs.buffer, 0, pairs.size};
    b.descriptors.fill(table);  // bindings a pass does not use read nothing
    b.descriptors[kQKX] = xv->descriptor;
    QKPushConstants& p = b.push;
    set_rows(*xv, p.x_offset, p.x_stride_b, p.x_stride_h, p.x_stride_s);
    if (d.norm.kind == QKNormKind::kRMS) {
      if (!weight) return invalid("weight is missing (desc.norm.kind = rms needs fp32 [D])");
      const std::array<std::int64_t, 1> ws{d.head_dim};
      static constexpr std::array<const char*, 1> kW{"D"};
      Result<BoundView> wv = check_view(device, *weight, {"weight", ws, kW, DType::kF32, true, false, false, true});
      if (!wv) return wv.status();
      inputs.push_back({"weight", &*weight, *wv});
      b.descriptors[kQKWeight] = wv->descriptor;
      p.weight_offset = wv->element_offset;
    } else if (weight) {
      return invalid("weight is given but desc.norm.kind is not rms");
    }
    if (d.rope.positions) {
      if (!positions) return invalid("positions is missing (desc.rope.positions = true needs int32 [B, S])");
      const std::array<std::int64_t, 2> ps{d.batch, d.seq};
      static constexpr std::array<const char*, 2> kP{"B", "S"};
      Result<BoundView> pv = check_view(device, *positions, {"positions", ps, kP, DType::kI32});
      if (!pv) return pv.status();
      inputs.push_back({"positions", &*positions, *pv});
      b.descriptors[kQKPositions] = pv->descriptor;
      p.positions_offset = pv->element_offset;
      p.positions_stride_b = pv->strides[0];
    } else if (positions) {
      return invalid("positions is given but desc.rope.positions = false");
    }
    p.heads = static_cast<std::uint32_t>(d.heads);
    p.seq = static_cast<std::uint32_t>(d.seq);
    p.tokens = static_cast<std::uint32_t>(d.batch * d.seq);
    p.heads_per_group = heads_per_group;
    p.groups = groups;
    p.position_offset = static_cast<std::int32_t>(d.rope.position_offset);
    if (d.rope.grid.size() >= 2) p.grid1 = static_cast<std::uint32_t>(d.rope.grid[1]);
    if (d.rope.grid.size() == 3) p.grid2 = static_cast<std::uint32_t>(d.rope.grid[2]);
    p.eps = d.norm.eps;
    p.scale = d.norm.scale;
    return Status::ok();
  }

  std::array<std::int64_t, 4> row_shape() const { return {desc.batch, desc.heads, desc.seq, desc.head_dim}; }
  static constexpr std::array<const char*, 4> kRowDims{"B", "H", "S", "D"};

  // An output of rows: checked, and either `in_place_of` itself or apart from every input.
  Result<BoundView> bind_output(const char* out_name, const TensorView& out, const TensorView& in_place_of,
                                const std::vector<CheckedInput>& inputs) const {
    const Device& device = *context_state(*ctx).device;
    Result<BoundView> ov = check_view(device, out, {out_name, row_shape(), kRowDims, desc.dtype, true, true});
    if (!ov) return ov;
    for (const CheckedInput& in : inputs) {
      if (in.view == &in_place_of && same_view(out, in_place_of)) continue;
      VKATTN_TRY(check_no_overlap(*ov, out_name, out, in.bound, in.name, *in.view));
    }
    return ov;
  }

  Result<BoundQK> bind_forward(const QKTransformTensors& t) const {
    BoundQK b;
    std::vector<CheckedInput> inputs;
    VKATTN_TRY(bind_inputs(t.x, t.weight, t.positions, b, inputs));
    Result<BoundView> y = bind_output("y", t.y, t.x, inputs);
    if (!y) return y.status();
    b.descriptors[kQKY] = y->descriptor;
    set_rows(*y, b.push.y_offset, b.push.y_stride_b, b.push.y_stride_h, b.push.y_stride_s);
    return b;
  }

  Result<BoundQK> bind_backward(const QKTransformGradTensors& t) const {
    const Device& device = *context_state(*ctx).device;
    BoundQK b;
    std::vector<CheckedInput> inputs;
    VKATTN_TRY(bind_inputs(t.x, t.weight, t.positions, b, inputs));
    Result<BoundView> dy = check_view(device, t.dy, {"dy", row_shape(), kRowDims, desc.dtype});
    if (!dy) return dy.status();
    inputs.push_back({"dy", &t.dy, *dy});
    b.descriptors[kQKDy] = dy->descriptor;
    set_rows(*dy, b.push.dy_offset, b.push.dy_stride_b, b.push.dy_stride_h, b.push.dy_stride_s);
    Result<BoundView> dx = bind_output("dx", t.dx, t.dy, inputs);
    if (!dx) return dx.status();
    b.descriptors[kQKY] = dx->descriptor;
    set_rows(*dx, b.push.y_offset, b.push.y_stride_b, b.push.y_stride_h, b.push.y_stride_s);
    if (t.dweight) {
      if (desc.norm.kind != QKNormKind::kRMS) return invalid("dweight is given but desc.norm.kind is not rms");
      const std::array<std::int64_t, 1> ws{desc.head_dim};
      static constexpr std::array<const char*, 1> kW{"D"};
      Result<BoundView> dw = check_view(device, *t.dweight, {"dweight", ws, kW, DType::kF32, true, true, false, true});
      if (!dw) return dw.status();
      for (const CheckedInput& in : inputs) VKATTN_TRY(check_no_overlap(*dw, "dweight", *t.dweight, in.bound, in.name, *in.view));
      VKATTN_TRY(check_no_overlap(*dw, "dweight", *t.dweight, *dx, "dx", t.dx));
      b.descriptors[kQKDweight] = dw->descriptor;
      b.push.dweight_offset = dw->element_offset;
      b.dweight = true;
    }
    if (parts.buffer != VK_NULL_HANDLE) b.descriptors[kQKParts] = {parts.buffer, 0, parts.size};
    return b;
  }

  Status record_forward(VkCommandBuffer cmd, const BoundQK& b) {
    VKATTN_TRY(forward.reserve(b.descriptors));
    return forward.record(cmd, b.descriptors, b.push, {token_blocks, head_chunks, 1});
  }

  Status record_backward(VkCommandBuffer cmd, const BoundQK& b) {
    VKATTN_TRY(backward.reserve(b.descriptors));
    if (b.dweight) VKATTN_TRY(reduce.reserve(b.descriptors));
    if (parts.buffer != VK_NULL_HANDLE) compute_barrier(cmd);  // an earlier recording may still read the parts
    VKATTN_TRY(backward.record(cmd, b.descriptors, b.push, {token_blocks, head_chunks, 1}));
    if (!b.dweight) return Status::ok();
    compute_barrier(cmd);  // parts written -> summed
    return reduce.record(cmd, b.descriptors, b.push, {static_cast<std::uint32_t>(desc.head_dim), 1, 1});  // one per element
  }
};

QKTransformPlan::QKTransformPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QKTransformPlan::QKTransformPlan(QKTransformPlan&&) noexcept = default;
QKTransformPlan& QKTransformPlan::operator=(QKTransformPlan&&) noexcept = default;
QKTransformPlan::~QKTransformPlan() = default;

Result<QKTransformPlan> QKTransformPlan::create(Context& ctx, const QKTransformDesc& d) {
  VKATTN_TRY(check_desc(d));
  ContextState& s = context_state(ctx);
  const Device& device = *s.device;
  auto impl = std::make_unique<Impl>(ctx, d);
  const std::uint32_t workgroup = device.info.max_workgroup_invocations >= kWorkgroup ? kWorkgroup : 128u;
  const auto pairs = static_cast<std::uint32_t>(d.head_dim / 2);
  std::uint32_t row_lanes = std::clamp(std::bit_ceil((pairs + kPairsPerLane - 1) / kPairsPerLane), kMinRowLanes, kMaxRowLanes);
  while (row_lanes < workgroup && qk_shared_bytes(workgroup, row_lanes, static_cast<std::uint32_t>(d.head_dim)) >
                                      device.info.max_shared_memory) {
    row_lanes *= 2;
  }
  const std::uint64_t step_tokens = workgroup / row_lanes;
  const auto tokens = static_cast<std::uint64_t>(d.batch * d.seq);
  const auto heads = static_cast<std::uint64_t>(d.heads);
  const std::uint64_t blocks = (tokens + step_tokens - 1) / step_tokens;
  const std::uint64_t chunks_wanted = std::clamp<std::uint64_t>((kTargetGroups + blocks - 1) / blocks, 1, heads);
  const std::uint64_t per_group = (heads + chunks_wanted - 1) / chunks_wanted;
  impl->heads_per_group = static_cast<std::uint32_t>(per_group);
  impl->head_chunks = static_cast<std::uint32_t>((heads + per_group - 1) / per_group);
  if (blocks > device.info.max_workgroup_count[0]) {
    return unsupported("desc: " + num(static_cast<std::int64_t>(blocks)) + " workgroups of " +
                       num(static_cast<std::int64_t>(step_tokens)) + " tokens exceed maxComputeWorkGroupCount[0] = " +
                       num(device.info.max_workgroup_count[0]));
  }
  if (impl->head_chunks > device.info.max_workgroup_count[1]) {
    return unsupported("desc.heads = " + num(d.heads) + ": " + num(static_cast<std::int64_t>(impl->head_chunks)) +
                       " workgroups of heads exceed maxComputeWorkGroupCount[1] = " + num(device.info.max_workgroup_count[1]));
  }
  impl->token_blocks = static_cast<std::uint32_t>(blocks);
  impl->groups = impl->token_blocks * impl->head_chunks;
  const std::int64_t rd = d.rope.rotary_dim != 0 ? d.rope.rotary_dim : d.head_dim;
  // Appended piece by piece (GCC 12 warns falsely on `"_r" + num(...)`).
  std::string& name = impl->name;
  name = "qk_transform_d";
  name += num(d.head_dim);
  name += "_";
  name += to_string(d.dtype);
  if (d.norm.kind != QKNormKind::kNone) impl->name += d.norm.kind == QKNormKind::kRMS ? "_rms" : "_l2";
  if (d.rope.style != RopeStyle::kNone) {
    impl->name += d.rope.style == RopeStyle::kRotateHalf ? "_rope_half" : "_rope_pairs";
    if (rd != d.head_dim) (impl->name += "_r") += num(rd);
    if (!d.rope.grid.empty()) ((impl->name += "_") += num(static_cast<std::int64_t>(d.rope.grid.size()))) += "d";
    if (d.rope.positions) impl->name += "_pos";
  }
  QKSpecConstants spec;
  spec.head_dim = static_cast<std::uint32_t>(d.head_dim);
  spec.dtype = static_cast<std::uint32_t>(d.dtype);
  spec.norm = static_cast<std::uint32_t>(d.norm.kind);
  spec.axes = d.rope.style == RopeStyle::kNone ? 0u : d.rope.grid.empty() ? 1u : static_cast<std::uint32_t>(d.rope.grid.size());
  spec.positions = d.rope.positions ? 1u : 0u;
  spec.workgroup_size = workgroup;
  spec.row_lanes = row_lanes;
  const auto map = qk_transform_spec_map();
  const auto make = [&](std::uint32_t pass, const std::string& suffix, Kernel& out) -> Status {
    QKSpecConstants k = spec;
    k.pass = pass;
    k.weight_grad = pass == shader::kQK_PASS_BACKWARD && d.norm.kind == QKNormKind::kRMS ? 1u : 0u;
    const KernelBuild build{ShaderId::kQKTransform, spec_words(k), map, impl->name + suffix, kQKBindingCount,
                            sizeof(QKPushConstants)};
    Result<Kernel> kernel = Kernel::create(device, *s.pipelines, build);
    if (!kernel) return kernel.status();
    out = std::move(kernel).value();
    return Status::ok();
  };
  VKATTN_TRY(make(shader::kQK_PASS_FORWARD, "", impl->forward));
  VKATTN_TRY(make(shader::kQK_PASS_BACKWARD, "_bwd", impl->backward));
  const std::vector<std::array<std::uint32_t, 4>> table = pair_table(d);
  VKATTN_TRY(create_host_written_buffer(device, std::as_bytes(std::span(table)), impl->pairs));
  device.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->pairs.buffer), impl->name + ".pairs");
  if (d.norm.kind == QKNormKind::kRMS) {
    VKATTN_TRY(make(shader::kQK_PASS_REDUCE, "_dweight", impl->reduce));
    VKATTN_TRY(allocate(device, std::uint64_t{impl->groups} * static_cast<std::uint64_t>(d.head_dim) * 4,
                        VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, impl->parts));
  }
  return QKTransformPlan(std::move(impl));
}

const std::string& QKTransformPlan::variant_name() const { return impl_->name; }
const QKTransformDesc& QKTransformPlan::desc() const { return impl_->desc; }

Status QKTransformPlan::validate(const QKTransformTensors& t) const { return impl_->bind_forward(t).status(); }

Status QKTransformPlan::record(VkCommandBuffer cmd, const QKTransformTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundQK> b = impl_->bind_forward(t);
  if (!b) return b.status();
  return impl_->record_forward(cmd, *b);
}

Status QKTransformPlan::run(const QKTransformTensors& t) {
  Result<BoundQK> b = impl_->bind_forward(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_forward(cmd, *b); });
}

Status QKTransformPlan::validate_backward(const QKTransformGradTensors& t) const {
  return impl_->bind_backward(t).status();
}

Status QKTransformPlan::record_backward(VkCommandBuffer cmd, const QKTransformGradTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundQK> b = impl_->bind_backward(t);
  if (!b) return b.status();
  return impl_->record_backward(cmd, *b);
}

Status QKTransformPlan::run_backward(const QKTransformGradTensors& t) {
  Result<BoundQK> b = impl_->bind_backward(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_backward(cmd, *b); });
}

void QKTransformPlan::release_descriptor_sets() {
  impl_->forward.release_sets();
  impl_->backward.release_sets();
  impl_->reduce.release_sets();
}

}  // namespace vkattn
