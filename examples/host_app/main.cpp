// Example (a): a host application that owns its Vulkan instance, device, queue and buffers, and
// puts vkattn's attention between two compute passes of its own, in its own command buffer with
// its own barriers:  Q *= 2 (host pass)  ->  O = causal attention(Q, K, V) (vkattn)  ->  O *= 0.5
// (host pass). Checks O against a CPU reference; exits 0 when it agrees and the validation layer
// said nothing.
#include <cstdio>
#include <vector>

#include "host_vulkan.h"
#include "reference.h"
#include "vkattn/vkattn.hpp"

int main() {
  constexpr int H = 2, S = 40, D = 32, N = H * S * D;
  host h;
  if (host_create(&h) != 0) return 1;
  host_buffer q{}, k{}, v{}, o{};
  std::vector<float> q0(N);
  int rc = 1;
  if (host_buffer_create(&h, N * 4, &q) == 0 && host_buffer_create(&h, N * 4, &k) == 0 &&
      host_buffer_create(&h, N * 4, &v) == 0 && host_buffer_create(&h, N * 4, &o) == 0) {
    for (int i = 0; i < N; ++i) {
      q0[i] = q.mapped[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
      k.mapped[i] = static_cast<float>((i * 53) % 97) / 97.0f - 0.5f;
      v.mapped[i] = static_cast<float>((i * 71) % 89) / 89.0f - 0.5f;
    }
    {
      // vkattn adopts the host's handles: it creates no device and destroys none of them.
      vkattn::HostHandles handles;
      handles.instance = h.instance;
      handles.physical_device = h.physical;
      handles.device = h.device;
      handles.queue = h.queue;
      handles.queue_family_index = h.family;
      if (h.push_descriptors) handles.enabled_device_extensions = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
      handles.debug_utils_enabled = true;
      vkattn::ContextOptions options;
      options.pipeline_cache.persist = false;
      auto ctx = vkattn::Context::adopt(handles, options);
      if (!ctx) {
        std::fprintf(stderr, "Context::adopt: %s\n", ctx.status().to_string().c_str());
        return 1;
      }
      vkattn::AttentionDesc desc;
      desc.dtype = vkattn::DType::kF32;
      desc.q_heads = H;
      desc.seq_q = desc.seq_k = S;
      desc.head_dim = D;
      desc.mask = vkattn::Mask::causal_mask();
      desc.write_lse = false;
      auto plan = vkattn::ForwardPlan::create(**ctx, desc);
      if (!plan) {
        std::fprintf(stderr, "ForwardPlan::create: %s\n", plan.status().to_string().c_str());
        return 1;
      }
      const auto view = [](const host_buffer& b) {
        return vkattn::TensorView::contiguous(b.buffer, b.size, vkattn::DType::kF32, {1, H, S, D});
      };
      vkattn::ForwardTensors t;
      t.q = view(q);
      t.k = view(k);
      t.v = view(v);
      t.o = view(o);
      VkCommandBuffer cmd = host_begin(&h);
      host_record_scale(&h, cmd, &q, 2.0f, N);  // the host's pass
      host_compute_barrier(cmd);                // its writes of Q -> vkattn's reads
      const vkattn::Status s = plan->record(cmd, t);
      host_compute_barrier(cmd);  // vkattn's writes of O -> the host's next pass
      host_record_scale(&h, cmd, &o, 0.5f, N);
      if (!s) std::fprintf(stderr, "record: %s\n", s.to_string().c_str());
      if (host_submit(&h, cmd) == 0 && s) {
        const double err = causal_attention_error(q0.data(), k.mapped, v.mapped, o.mapped, H, S, D, 2.0, 0.5);
        std::printf("host application + vkattn (C++) on %s: %s, max |O - reference| = %.3g, %d validation messages\n",
                    (*ctx)->info().name.c_str(), plan->variant_name().c_str(), err, h.validation_messages);
        rc = err < 1e-5 && h.validation_messages == 0 ? 0 : 1;
      }
    }  // the plan, then the context: before the host's device
  }
  for (host_buffer* b : {&q, &k, &v, &o}) {
    if (b->buffer != VK_NULL_HANDLE) host_buffer_destroy(&h, b);
  }
  host_destroy(&h);
  if (h.validation_messages != 0) rc = 1;
  return rc;
}
