/* A C program on vkattn's C API: fp32 causal attention with GQA (B = 1, Hq = 4 on Hkv = 2, Sq = 5
 * against Sk = 9 keys, bottom-right aligned, D = 16) on the default device, checked against a
 * double-precision reference here. Exit status 0 when O matches within 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <vkattn/vkattn.h>

enum { B = 1, HQ = 4, HKV = 2, SQ = 5, SK = 9, D = 16 };

static int fail(const char* what) {
  fprintf(stderr, "c_consumer: %s: %s\n", what, vkattn_last_error());
  return 1;
}

/* O[h][i] = softmax_j(q.k_j / sqrt(D)) v_j over keys j <= i + (SK - SQ) of KV head h / (HQ / HKV). */
static void reference(const float* q, const float* k, const float* v, double* o) {
  for (int h = 0; h < HQ; ++h) {
    const int kh = h / (HQ / HKV);
    for (int i = 0; i < SQ; ++i) {
      double s[SK], m = -INFINITY, l = 0.0;
      const int last = i + (SK - SQ);
      for (int j = 0; j <= last; ++j) {
        double dot = 0.0;
        for (int d = 0; d < D; ++d) dot += (double)q[((h * SQ) + i) * D + d] * k[((kh * SK) + j) * D + d];
        s[j] = dot / sqrt((double)D);
        if (s[j] > m) m = s[j];
      }
      for (int j = 0; j <= last; ++j) l += exp(s[j] - m);
      for (int d = 0; d < D; ++d) {
        double acc = 0.0;
        for (int j = 0; j <= last; ++j) acc += exp(s[j] - m) / l * v[((kh * SK) + j) * D + d];
        o[((h * SQ) + i) * D + d] = acc;
      }
    }
  }
}

int main(void) {
  static float q[B * HQ * SQ * D], k[B * HKV * SK * D], v[B * HKV * SK * D], o[B * HQ * SQ * D];
  static double expected[B * HQ * SQ * D];
  srand(7);
  for (size_t i = 0; i < sizeof q / sizeof q[0]; ++i) q[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
  for (size_t i = 0; i < sizeof k / sizeof k[0]; ++i) k[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; ++i) v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
  reference(q, k, v, expected);

  vkattn_context_options options;
  vkattn_context_options_init(&options);
  vkattn_context ctx = NULL;
  if (vkattn_context_create(&options, &ctx) != VKATTN_OK) return fail("vkattn_context_create");
  const int64_t q_shape[4] = {B, HQ, SQ, D}, kv_shape[4] = {B, HKV, SK, D};
  vkattn_tensor tq = NULL, tk = NULL, tv = NULL, to = NULL;
  if (vkattn_tensor_create(ctx, VKATTN_F32, 4, q_shape, &tq) != VKATTN_OK ||
      vkattn_tensor_create(ctx, VKATTN_F32, 4, kv_shape, &tk) != VKATTN_OK ||
      vkattn_tensor_create(ctx, VKATTN_F32, 4, kv_shape, &tv) != VKATTN_OK ||
      vkattn_tensor_create(ctx, VKATTN_F32, 4, q_shape, &to) != VKATTN_OK) {
    return fail("vkattn_tensor_create");
  }
  if (vkattn_tensor_upload(tq, q, sizeof q / sizeof q[0]) != VKATTN_OK ||
      vkattn_tensor_upload(tk, k, sizeof k / sizeof k[0]) != VKATTN_OK ||
      vkattn_tensor_upload(tv, v, sizeof v / sizeof v[0]) != VKATTN_OK || vkattn_tensor_fill(to, NAN) != VKATTN_OK) {
    return fail("upload");
  }
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F32;
  desc.batch = B, desc.q_heads = HQ, desc.kv_heads = HKV, desc.seq_q = SQ, desc.seq_k = SK, desc.head_dim = D;
  desc.causal = 1, desc.align = VKATTN_ALIGN_BOTTOM_RIGHT, desc.write_lse = 0;
  vkattn_forward_plan plan = NULL;
  if (vkattn_forward_plan_create(ctx, &desc, &plan) != VKATTN_OK) return fail("vkattn_forward_plan_create");
  vkattn_forward_tensors t = {0};
  t.q = vkattn_tensor_get_view(tq), t.k = vkattn_tensor_get_view(tk), t.v = vkattn_tensor_get_view(tv);
  t.o = vkattn_tensor_get_view(to);
  if (vkattn_forward_plan_run(plan, &t) != VKATTN_OK) return fail("vkattn_forward_plan_run");
  if (vkattn_tensor_download(to, o, sizeof o / sizeof o[0]) != VKATTN_OK) return fail("vkattn_tensor_download");
  double worst = 0.0;
  for (size_t i = 0; i < sizeof o / sizeof o[0]; ++i) {
    const double err = fabs(o[i] - expected[i]);
    worst = isnan(o[i]) || err > worst ? (isnan(o[i]) ? INFINITY : err) : worst;
  }
  printf("c_consumer: %s, largest |O - reference| = %.3g\n", vkattn_forward_plan_variant_name(plan), worst);
  vkattn_forward_plan_destroy(plan);
  vkattn_tensor_destroy(tq), vkattn_tensor_destroy(tk), vkattn_tensor_destroy(tv), vkattn_tensor_destroy(to);
  vkattn_context_destroy(ctx);
  return worst <= 1e-5 ? 0 : 1;
}
