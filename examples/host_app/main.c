/* Example (b): example (a) through the C API. A host application that owns its Vulkan instance,
 * device, queue and buffers puts vkattn's attention between two compute passes of its own, in its
 * own command buffer with its own barriers:  Q *= 2  ->  O = causal attention(Q, K, V)  ->
 * O *= 0.5. Checks O against a CPU reference; exits 0 when it agrees and the validation layer said
 * nothing. */
#include <stdio.h>
#include <stdlib.h>

#include "host_vulkan.h"
#include "reference.h"
#include "vkattn/vkattn.h"

enum { H = 2, S = 40, D = 32, N = H * S * D };

int main(void) {
  static float q0[N];
  const int64_t shape[4] = {1, H, S, D};
  const char* push_ext = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
  host h;
  host_buffer q, k, v, o;
  vkattn_host_handles handles = {0};
  vkattn_context_options options;
  vkattn_context ctx = NULL;
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_forward_tensors t = {0};
  vkattn_status s = VKATTN_OK;
  VkCommandBuffer cmd;
  int i, rc = 1;

  if (host_create(&h) != 0) return 1;
  if (host_buffer_create(&h, N * 4, &q) != 0 || host_buffer_create(&h, N * 4, &k) != 0 ||
      host_buffer_create(&h, N * 4, &v) != 0 || host_buffer_create(&h, N * 4, &o) != 0) {
    return 1;
  }
  for (i = 0; i < N; ++i) {
    q0[i] = q.mapped[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    k.mapped[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
    v.mapped[i] = (float)((i * 71) % 89) / 89.0f - 0.5f;
  }

  /* vkattn adopts the host's handles: it creates no device and destroys none of them. */
  handles.instance = h.instance;
  handles.physical_device = h.physical;
  handles.device = h.device;
  handles.queue = h.queue;
  handles.queue_family_index = h.family;
  handles.enabled_device_extensions = &push_ext;
  handles.enabled_device_extension_count = h.push_descriptors ? 1u : 0u;
  handles.debug_utils_enabled = 1;
  vkattn_context_options_init(&options);
  options.persist_pipeline_cache = 0;
  s = vkattn_context_adopt(&handles, &options, &ctx);
  if (s != VKATTN_OK) {
    fprintf(stderr, "vkattn_context_adopt: %s\n", vkattn_last_error());
    return 1;
  }
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F32;
  desc.q_heads = H;
  desc.seq_q = desc.seq_k = S;
  desc.head_dim = D;
  desc.causal = 1;
  desc.write_lse = 0;
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  if (s != VKATTN_OK) {
    fprintf(stderr, "vkattn_forward_plan_create: %s\n", vkattn_last_error());
    vkattn_context_destroy(ctx);
    return 1;
  }
  t.q = vkattn_view_contiguous(q.buffer, q.size, VKATTN_F32, 4, shape, 0);
  t.k = vkattn_view_contiguous(k.buffer, k.size, VKATTN_F32, 4, shape, 0);
  t.v = vkattn_view_contiguous(v.buffer, v.size, VKATTN_F32, 4, shape, 0);
  t.o = vkattn_view_contiguous(o.buffer, o.size, VKATTN_F32, 4, shape, 0);

  cmd = host_begin(&h);
  host_record_scale(&h, cmd, &q, 2.0f, N); /* the host's pass */
  host_compute_barrier(cmd);                /* its writes of Q -> vkattn's reads */
  s = vkattn_forward_plan_record(plan, cmd, &t);
  if (s != VKATTN_OK) fprintf(stderr, "vkattn_forward_plan_record: %s\n", vkattn_last_error());
  host_compute_barrier(cmd); /* vkattn's writes of O -> the host's next pass */
  host_record_scale(&h, cmd, &o, 0.5f, N);
  if (host_submit(&h, cmd) == 0 && s == VKATTN_OK) {
    const double err = causal_attention_error(q0, k.mapped, v.mapped, o.mapped, H, S, D, 2.0, 0.5);
    printf("host application + vkattn (C) : %s, max |O - reference| = %.3g, %d validation messages\n",
           vkattn_forward_plan_variant_name(plan), err, h.validation_messages);
    rc = err < 1e-5 && h.validation_messages == 0 ? 0 : 1;
  }
  vkattn_forward_plan_destroy(plan);
  vkattn_context_destroy(ctx); /* before the host's device */
  host_buffer_destroy(&h, &q);
  host_buffer_destroy(&h, &k);
  host_buffer_destroy(&h, &v);
  host_buffer_destroy(&h, &o);
  host_destroy(&h);
  if (h.validation_messages != 0) rc = 1;
  return rc;
}
