// Checking the tensors of one attention call against its problem, shared by the forward and
// backward plans: the expected shape of every view (dense [B, H, S, D] or packed varlen
// [T, H, D]), the optional mask and score_mod inputs, and output/input overlap.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "planning/problem.hpp"
#include "planning/tensor_checks.hpp"

namespace vkattn {

// Offset and (batch, head, token) strides of a bound view, as the kernels address it.
struct Addressing {
  std::uint32_t offset = 0, stride_b = 0, stride_h = 0, stride_s = 0;
};

// Whether every row of an fp16 view addressed by `a` starts on 16 bytes (8 elements) of its
// binding: then the coopmat kernels' WIDE_ROWS variants may read it (16-byte loads only).
inline bool rows_on_16_bytes(const Addressing& a) {
  return ((a.offset | a.stride_b | a.stride_h | a.stride_s) & 7u) == 0;
}

// Whether the cooperative-matrix-2 kernels may address a view (shaders/attn_*_cm2.comp): their
// tensor loads and stores start at element offset + b stride_b + h stride_h + start stride_s, which
// must lie on 16 bytes of the buffer (GLSL_NV_cooperative_matrix2), so the binding's start, the
// offset and every stride must be multiples of 16 bytes (8 fp16 elements); and a tensor layout's
// row stride must be at least its row length `width`, so a view of more than one row (`rows`) whose
// token stride is smaller (an input broadcast along the sequence) is not addressable either. (A
// one-row view has stride 0 from the checks, tensor_checks.cpp; the kernels lift that to the row
// length.)
inline bool cm2_addressable(const VkDescriptorBufferInfo& binding, const Addressing& a, std::int64_t width,
                            std::int64_t rows) {
  return binding.offset % 16 == 0 && rows_on_16_bytes(a) &&
         (rows <= 1 || static_cast<std::int64_t>(a.stride_s) >= width);
}

// Token rows of a query-side (`keys` false) or key-side view: Sq or Sk, or Tq or Tk packed (varlen).
inline std::int64_t token_rows(const Problem& p, bool keys) {
  const bool varlen = p.seq_mode == SeqMode::kVarlen;
  return keys ? (varlen ? p.total_k : p.seq_k) : (varlen ? p.total_q : p.seq_q);
}

// The mask and score_mod inputs of a call (ForwardTensors and BackwardTensors both carry them).
struct AuxViews {
  const std::optional<TensorView>& bias;
  const std::optional<TensorView>& alibi_slopes;
  const std::optional<TensorView>& rel_pos_table;
  const std::optional<TensorView>& sinks;
  const std::optional<TensorView>& doc_ids_q;
  const std::optional<TensorView>& doc_ids_kv;
};

struct BoundAux {
  std::optional<BoundView> bias, slopes, table, sinks, docs_q, docs_k;
};

// A paged cache's device tables (ForwardTensors::block_table, cache_lens), when the desc has none
// on the host.
struct BoundTables {
  std::optional<BoundView> block_table, cache_lens;
};

// Writes an addressing into a push block's (offset, stride_b, stride_h, stride_s) fields.
inline void set_addressing(const Addressing& a, std::uint32_t& offset, std::uint32_t& sb, std::uint32_t& sh,
                           std::uint32_t& ss) {
  offset = a.offset, sb = a.stride_b, sh = a.stride_h, ss = a.stride_s;
}

// Binding indices of the mask and score_mod inputs in a kernel's set 0.
struct AuxBindings {
  std::uint32_t bias, slopes, table, sinks, docs_q, docs_k;
};

// Binds the present mask and score_mod inputs and writes their push fields (the push blocks of
// the attention kernels share these field names; a block without `sinks_offset` gets none).
template <class Push, std::size_t N>
void apply_aux(const BoundAux& a, const AuxBindings& at, std::array<VkDescriptorBufferInfo, N>& d, Push& p) {
  if (a.bias) {
    d[at.bias] = a.bias->descriptor;
    p.bias_offset = a.bias->element_offset;
    p.bias_stride_b = a.bias->strides[0], p.bias_stride_h = a.bias->strides[1], p.bias_stride_q = a.bias->strides[2];
  }
  if (a.slopes) d[at.slopes] = a.slopes->descriptor, p.slopes_offset = a.slopes->element_offset;
  if (a.table) d[at.table] = a.table->descriptor, p.table_offset = a.table->element_offset;
  if (a.docs_q) d[at.docs_q] = a.docs_q->descriptor, p.docs_q_offset = a.docs_q->element_offset;
  if (a.docs_k) d[at.docs_k] = a.docs_k->descriptor, p.docs_k_offset = a.docs_k->element_offset;
  if (a.sinks) {
    d[at.sinks] = a.sinks->descriptor;
    if constexpr (requires { p.sinks_offset; }) p.sinks_offset = a.sinks->element_offset;
  }
}

class ViewChecker {
 public:
  enum class Role { kQ, kK, kV, kO, kLse };

  ViewChecker(const Device& device, const Problem& p) : device_(device), p_(p) {}

  // A Q/K/V/O-shaped view (`role` picks the shape) or an LSE-shaped one, named `name`. Inputs are
  // remembered for overlap checks; written views must not overlap any remembered input.
  Result<BoundView> input(Role role, const char* name, const TensorView& view);
  Result<BoundView> output(Role role, const char* name, const TensorView& view);
  // An output with an explicit requirement (parameter gradients).
  Result<BoundView> output(const char* name, const TensorView& view, const ViewRequirement& req);
  // Checks each optional input: present iff the desc enables its feature.
  Result<BoundAux> aux(const AuxViews& views);
  // Checks the paged cache's device tables: present iff desc.paged_kv is on with no host tables.
  Result<BoundTables> tables(const std::optional<TensorView>& block_table, const std::optional<TensorView>& cache_lens);
  // Kernel addressing of a bound Q/K/V/O-shaped (or LSE-shaped) view.
  Addressing addressing(const BoundView& v, Role role) const;

 private:
  struct Checked {
    const char* name;
    const TensorView* view;
    BoundView bound;
  };
  ViewRequirement requirement(Role role, const char* name, bool written);
  Status optional(const std::optional<TensorView>& t, bool enabled, const ViewRequirement& req, const char* feature,
                  std::optional<BoundView>& out);

  const Device& device_;
  const Problem& p_;
  std::vector<Checked> inputs_;
  // Storage for the shapes and names the requirements point into.
  std::vector<std::vector<std::int64_t>> shapes_;
  std::vector<std::vector<const char*>> names_;
};

}  // namespace vkattn
