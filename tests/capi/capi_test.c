/* The C API from C11 (built with -std=c11 -Wall -Wextra -pedantic -Werror), on the default device
 * under the validation layer: a causal forward with ALiBi and its backward against a double
 * reference computed here, bad input returning its code and a message with the outputs untouched,
 * the version, partial attention over two key chunks merged by a merge plan, a paged cache, bf16
 * storage, and dropout. Any validation message fails. Prints "N passed, M failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkattn/vkattn.h"

enum { B = 1, H = 2, S = 20, D = 16, N = B * H * S * D };

static int g_passed, g_failed, g_validation_messages;

#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (cond) {                                             \
      ++g_passed;                                           \
    } else {                                                \
      ++g_failed;                                           \
      fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, "\n");                                \
    }                                                       \
  } while (0)

static void on_log(int level, const char* message, void* user) {
  (void)user;
  if (strncmp(message, "validation:", 11) == 0) ++g_validation_messages;
  if (level > 0) fprintf(stderr, "log: %s\n", message);
}

/* Deterministic values in [-1, 1). */
static float next_value(unsigned* state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)((*state >> 8) & 0xffffu) / 32768.0f - 1.0f;
}

static const float kSlopes[H] = {0.5f, 0.25f};

/* Softmax probabilities of row i of head h: causal (keys 0..i, Sq = Sk so the diagonal is i),
 * scores scale * q.k - slope * |j - i|. */
static void probabilities(const float* q, const float* k, int h, int i, double* p) {
  const double scale = 1.0 / sqrt((double)D);
  double top = -INFINITY, sum = 0.0;
  int j, d;
  for (j = 0; j <= i; ++j) {
    double dot = 0.0;
    for (d = 0; d < D; ++d) dot += (double)q[(h * S + i) * D + d] * k[(h * S + j) * D + d];
    p[j] = dot * scale - kSlopes[h] * (double)(i - j);
    if (p[j] > top) top = p[j];
  }
  for (j = 0; j <= i; ++j) sum += (p[j] = exp(p[j] - top));
  for (j = 0; j <= i; ++j) p[j] /= sum;
}

static double max_error(const float* got, const double* want, int n, double* max_ref) {
  double worst = 0.0;
  int i;
  *max_ref = 0.0;
  for (i = 0; i < n; ++i) {
    const double e = fabs((double)got[i] - want[i]);
    if (!(e <= worst)) worst = e; /* NaN counts */
    if (fabs(want[i]) > *max_ref) *max_ref = fabs(want[i]);
  }
  return worst;
}

static vkattn_tensor make(vkattn_context ctx, vkattn_dtype dtype, int rank, const int64_t* shape, const float* values,
                          size_t count) {
  vkattn_tensor t = NULL;
  vkattn_status s = vkattn_tensor_create(ctx, dtype, rank, shape, &t);
  CHECK(s == VKATTN_OK, "vkattn_tensor_create: %s", vkattn_last_error());
  if (t != NULL && values != NULL) {
    s = vkattn_tensor_upload(t, values, count);
    CHECK(s == VKATTN_OK, "vkattn_tensor_upload: %s", vkattn_last_error());
  }
  return t;
}

/* The causal ALiBi forward with dropout (p = 0.25, a 64-bit seed and an offset per call): the
 * reference drops with vkattn_dropout_keep and scales the kept P by 1 / (1 - p) (p = 0.25 is a
 * multiple of 2^-16: vkattn/dropout.hpp's rounded p' is p itself). */
static void dropout_forward(vkattn_context ctx, vkattn_tensor tq, vkattn_tensor tk, vkattn_tensor tv, const float* q,
                            const float* k, const float* v, vkattn_tensor_view slopes_view) {
  const int64_t qkv_shape[4] = {B, H, S, D};
  const float prob = 0.25f;
  const uint64_t seed = 0x123456789abcdefULL;
  static float o[N];
  static double o_ref[N];
  double p[S], max_ref, err;
  vkattn_tensor to = make(ctx, VKATTN_F32, 4, qkv_shape, NULL, 0);
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_forward_tensors ft;
  vkattn_status s;
  int h, i, j, d;
  for (h = 0; h < H; ++h) {
    for (i = 0; i < S; ++i) {
      probabilities(q, k, h, i, p);
      for (d = 0; d < D; ++d) {
        double acc = 0.0;
        for (j = 0; j <= i; ++j) {
          if (vkattn_dropout_keep(seed, 7u, prob, H, 0, h, i, j)) acc += p[j] / (1.0 - prob) * v[(h * S + j) * D + d];
        }
        o_ref[(h * S + i) * D + d] = acc;
      }
    }
  }
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F32;
  desc.batch = B;
  desc.q_heads = H;
  desc.seq_q = desc.seq_k = S;
  desc.head_dim = D;
  desc.causal = 1;
  desc.alibi = VKATTN_ALIBI_PER_HEAD;
  desc.write_lse = 0;
  desc.dropout_p = prob;
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  CHECK(s == VKATTN_OK, "dropout plan: %s", vkattn_last_error());
  if (s != VKATTN_OK) return;
  CHECK(strstr(vkattn_forward_plan_variant_name(plan), "_dropout") != NULL, "dropout variant %s",
        vkattn_forward_plan_variant_name(plan));
  memset(&ft, 0, sizeof ft);
  ft.q = vkattn_tensor_get_view(tq);
  ft.k = vkattn_tensor_get_view(tk);
  ft.v = vkattn_tensor_get_view(tv);
  ft.o = vkattn_tensor_get_view(to);
  ft.alibi_slopes = &slopes_view;
  ft.dropout_seed = seed;
  ft.dropout_offset = 7u;
  CHECK(vkattn_tensor_fill(to, NAN) == VKATTN_OK, "fill");
  s = vkattn_forward_plan_run(plan, &ft);
  CHECK(s == VKATTN_OK, "dropout run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(to, o, N) == VKATTN_OK, "download dropout o");
  err = max_error(o, o_ref, N, &max_ref);
  CHECK(err <= 1e-5 * (1.0 + max_ref), "dropout O: max error %g", err);
  desc.dropout_p = 1.0f;
  vkattn_forward_plan_destroy(plan);
  plan = NULL;
  CHECK(vkattn_forward_plan_create(ctx, &desc, &plan) == VKATTN_INVALID_ARGUMENT, "dropout p = 1 refused");
  CHECK(strstr(vkattn_last_error(), "desc.dropout.p = 1") != NULL, "message: %s", vkattn_last_error());
  vkattn_tensor_destroy(to);
}

/* The KHR build of the tensor-core kernels: a plan where the device has it, else a refusal that
   names the request. */
/* vkattn_dropout_keep refuses arguments no problem has with -1 and a message naming the argument,
 * and otherwise answers 0 or 1 (some of each over a row at p = 0.5). */
static void dropout_keep_arguments(void) {
  CHECK(vkattn_dropout_keep(1u, 0u, 1.0f, 2, 0, 0, 0, 0) == -1, "p = 1 refused");
  CHECK(strstr(vkattn_last_error(), "p = 1") != NULL, "message: %s", vkattn_last_error());
  CHECK(vkattn_dropout_keep(1u, 0u, NAN, 2, 0, 0, 0, 0) == -1, "p = NaN refused");
  CHECK(vkattn_dropout_keep(1u, 0u, -0.1f, 2, 0, 0, 0, 0) == -1, "p < 0 refused");
  CHECK(vkattn_dropout_keep(1u, 0u, 0.5f, 0, 0, 0, 0, 0) == -1, "q_heads = 0 refused");
  CHECK(vkattn_dropout_keep(1u, 0u, 0.5f, 2, 0, 2, 0, 0) == -1, "h = q_heads refused");
  CHECK(strstr(vkattn_last_error(), "h = 2") != NULL, "message: %s", vkattn_last_error());
  CHECK(vkattn_dropout_keep(1u, 0u, 0.5f, 2, 0, 0, 0, -3) == -1, "j < 0 refused");
  CHECK(strstr(vkattn_last_error(), "j = -3") != NULL, "message: %s", vkattn_last_error());
  int kept = 0;
  for (int64_t j = 0; j < 64; ++j) {
    const int z = vkattn_dropout_keep(1u, 0u, 0.5f, 2, 0, 1, 3, j);
    CHECK(z == 0 || z == 1, "keep answers 0 or 1, got %d", z);
    kept += z == 1;
  }
  CHECK(kept > 0 && kept < 64, "p = 0.5 keeps some of 64 elements, kept %d", kept);
  CHECK(vkattn_dropout_keep(1u, 0u, 0.0f, 2, 0, 1, 3, 5) == 1, "p = 0 keeps everything");
}

static void khr_path_request(vkattn_context ctx, const vkattn_device_info* info) {
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_status s;
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F16;
  desc.batch = 1;
  desc.q_heads = 2;
  desc.seq_q = desc.seq_k = 64;
  desc.head_dim = 64;
  desc.path = VKATTN_PATH_COOPMAT_KHR;
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  if (info->coopmat_khr) {
    const char* name = s == VKATTN_OK ? vkattn_forward_plan_variant_name(plan) : "";
    CHECK(s == VKATTN_OK && strstr(name, "_coopmat_khr") != NULL, "coopmat_khr plan: %s %s", name,
          vkattn_last_error());
  } else {
    CHECK(s == VKATTN_UNSUPPORTED && strstr(vkattn_last_error(), "desc.path = coopmat_khr") != NULL,
          "coopmat_khr refused: %d %s", (int)s, vkattn_last_error());
  }
  vkattn_forward_plan_destroy(plan);
}

/* x rounded to bf16 (nearest even; the test's values are finite). */
static float round_bf16(float x) {
  unsigned u;
  memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  memcpy(&x, &u, 4);
  return x;
}

/* The same causal ALiBi forward with bf16 Q, K, V and O (VKATTN_BF16): the reference on the
 * rounded inputs, O within its own rounding (2^-8 of |O| <= 1), on the scalar kernels. */
static void bf16_forward(vkattn_context ctx, const float* q, const float* k, const float* v,
                         vkattn_tensor_view slopes_view) {
  const int64_t qkv_shape[4] = {B, H, S, D};
  static float qb[N], kb[N], vb[N], o[N];
  static double o_ref[N];
  double p[S], max_ref, err;
  vkattn_tensor tq, tk, tv, to;
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_forward_tensors ft;
  vkattn_status s;
  int h, i, j, d;
  for (i = 0; i < N; ++i) {
    qb[i] = round_bf16(q[i]);
    kb[i] = round_bf16(k[i]);
    vb[i] = round_bf16(v[i]);
  }
  for (h = 0; h < H; ++h) {
    for (i = 0; i < S; ++i) {
      probabilities(qb, kb, h, i, p);
      for (d = 0; d < D; ++d) {
        double acc = 0.0;
        for (j = 0; j <= i; ++j) acc += p[j] * vb[(h * S + j) * D + d];
        o_ref[(h * S + i) * D + d] = acc;
      }
    }
  }
  tq = make(ctx, VKATTN_BF16, 4, qkv_shape, qb, N);
  tk = make(ctx, VKATTN_BF16, 4, qkv_shape, kb, N);
  tv = make(ctx, VKATTN_BF16, 4, qkv_shape, vb, N);
  to = make(ctx, VKATTN_BF16, 4, qkv_shape, NULL, 0);
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_BF16;
  desc.batch = B;
  desc.q_heads = H;
  desc.seq_q = desc.seq_k = S;
  desc.head_dim = D;
  desc.causal = 1;
  desc.alibi = VKATTN_ALIBI_PER_HEAD;
  desc.write_lse = 0;
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  CHECK(s == VKATTN_OK, "bf16 plan: %s", vkattn_last_error());
  if (s != VKATTN_OK) return;
  CHECK(strstr(vkattn_forward_plan_variant_name(plan), "attn_fwd_d16_bf16_causal_br_alibi") != NULL &&
            (strstr(vkattn_forward_plan_variant_name(plan), "_scalar") != NULL ||
             strstr(vkattn_forward_plan_variant_name(plan), "_f16ops_coopmat") != NULL), /* bf16 on fp16 operands */
        "bf16 variant %s", vkattn_forward_plan_variant_name(plan));
  memset(&ft, 0, sizeof ft);
  ft.q = vkattn_tensor_get_view(tq);
  ft.k = vkattn_tensor_get_view(tk);
  ft.v = vkattn_tensor_get_view(tv);
  ft.o = vkattn_tensor_get_view(to);
  ft.alibi_slopes = &slopes_view;
  CHECK(vkattn_tensor_fill(to, NAN) == VKATTN_OK, "fill");
  s = vkattn_forward_plan_run(plan, &ft);
  CHECK(s == VKATTN_OK, "bf16 run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(to, o, N) == VKATTN_OK, "download bf16 o");
  err = max_error(o, o_ref, N, &max_ref);
  CHECK(err <= 4e-3, "bf16 O: max error %g", err);
  for (i = 0; i < N && o[i] == round_bf16(o[i]); ++i) {
  }
  CHECK(i == N, "bf16 O element %d is not a bf16 value", i);
  vkattn_forward_plan_destroy(plan);
  vkattn_tensor_destroy(tq);
  vkattn_tensor_destroy(tk);
  vkattn_tensor_destroy(tv);
  vkattn_tensor_destroy(to);
}

/* Rows [r0, r0 + n) of a [B, H, S, D] (or [B, H, S]) view. */
static vkattn_tensor_view row_slice(vkattn_tensor_view v, int64_t r0, int64_t n) {
  v.offset += (VkDeviceSize)(r0 * v.strides[2] * (v.dtype == VKATTN_F16 || v.dtype == VKATTN_BF16 ? 2 : 4));
  v.shape[2] = n;
  return v;
}

/* Partial attention over two chunks of the keys (k_offset places them), merged by
 * vkattn_merge_plan: equal to the one-pass reference. */
static void partial_and_merge(vkattn_context ctx, vkattn_tensor tq, vkattn_tensor tk, vkattn_tensor tv,
                              vkattn_tensor_view slopes_view, const double* o_ref, const double* lse_ref) {
  const int64_t parts_shape[4] = {2 * B, H, S, D};
  const int64_t lse_shape[4] = {2, B, H, S};
  const int64_t out_shape[4] = {B, H, S, D};
  const int64_t out_lse_shape[3] = {B, H, S};
  static float o[N], lse[B * H * S];
  const int64_t cut = 7;
  vkattn_tensor parts = make(ctx, VKATTN_F32, 4, parts_shape, NULL, 0);
  vkattn_tensor lse_parts = make(ctx, VKATTN_F32, 4, lse_shape, NULL, 0);
  vkattn_tensor out = make(ctx, VKATTN_F32, 4, out_shape, NULL, 0);
  vkattn_tensor out_lse = make(ctx, VKATTN_F32, 3, out_lse_shape, NULL, 0);
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_forward_tensors ft;
  vkattn_merge_desc md;
  vkattn_merge_plan merge = NULL;
  vkattn_merge_tensors mt;
  vkattn_tensor_view lse_view, out_lse_view;
  vkattn_status s;
  double max_ref, err;
  int n;
  for (n = 0; n < 2; ++n) {
    const int64_t k0 = n == 0 ? 0 : cut, len = n == 0 ? cut : S - cut;
    vkattn_attention_desc_init(&desc);
    desc.dtype = VKATTN_F32;
    desc.batch = B;
    desc.q_heads = H;
    desc.seq_q = S;
    desc.seq_k = len;
    desc.head_dim = D;
    desc.causal = 1;
    desc.align = VKATTN_ALIGN_TOP_LEFT; /* Sq = Sk overall: the alignments agree */
    desc.k_offset = k0;
    desc.alibi = VKATTN_ALIBI_PER_HEAD;
    s = vkattn_forward_plan_create(ctx, &desc, &plan);
    CHECK(s == VKATTN_OK, "chunk %d: %s", n, vkattn_last_error());
    memset(&ft, 0, sizeof ft);
    ft.q = vkattn_tensor_get_view(tq);
    ft.k = row_slice(vkattn_tensor_get_view(tk), k0, len);
    ft.v = row_slice(vkattn_tensor_get_view(tv), k0, len);
    ft.o = vkattn_tensor_get_view(parts);
    ft.o.shape[0] = B;
    ft.o.offset += (VkDeviceSize)(n * N * 4);
    lse_view = vkattn_tensor_get_view(lse_parts);
    lse_view.rank = 3;
    lse_view.shape[0] = B, lse_view.shape[1] = H, lse_view.shape[2] = S;
    lse_view.strides[0] = H * S, lse_view.strides[1] = S, lse_view.strides[2] = 1;
    lse_view.offset += (VkDeviceSize)(n * B * H * S * 4);
    ft.lse = &lse_view;
    ft.alibi_slopes = &slopes_view;
    s = vkattn_forward_plan_run(plan, &ft);
    CHECK(s == VKATTN_OK, "chunk %d run: %s", n, vkattn_last_error());
    vkattn_forward_plan_destroy(plan);
  }
  md.dtype = md.part_dtype = VKATTN_F32;
  md.batch = B, md.heads = H, md.seq = S, md.head_dim_v = D, md.num_parts = 2;
  md.accumulate = 0, md.write_lse = 1;
  s = vkattn_merge_plan_create(ctx, &md, &merge);
  CHECK(s == VKATTN_OK, "vkattn_merge_plan_create: %s", vkattn_last_error());
  CHECK(strcmp(vkattn_merge_plan_variant_name(merge), "attn_merge_dv16_f32_from_f32_n2_lse") == 0, "merge variant %s",
        vkattn_merge_plan_variant_name(merge));
  memset(&mt, 0, sizeof mt);
  mt.o_parts = vkattn_tensor_get_view(parts);
  mt.o_parts.shape[0] = B;
  mt.o_part_stride = N;
  mt.lse_parts = lse_view; /* part 1's view: step back to part 0 */
  mt.lse_parts.offset -= (VkDeviceSize)(B * H * S * 4);
  mt.lse_part_stride = B * H * S;
  mt.o = vkattn_tensor_get_view(out);
  out_lse_view = vkattn_tensor_get_view(out_lse);
  mt.lse = &out_lse_view;
  CHECK(vkattn_tensor_fill(out, NAN) == VKATTN_OK, "fill");
  s = vkattn_merge_plan_run(merge, &mt);
  CHECK(s == VKATTN_OK, "vkattn_merge_plan_run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(out, o, N) == VKATTN_OK && vkattn_tensor_download(out_lse, lse, B * H * S) == VKATTN_OK,
        "download merged");
  err = max_error(o, o_ref, N, &max_ref);
  CHECK(err <= 1e-5, "merged O: max error %g", err);
  err = max_error(lse, lse_ref, B * H * S, &max_ref);
  CHECK(err <= 1e-4, "merged LSE: max error %g", err);
  mt.o_part_stride = 0;
  CHECK(vkattn_merge_plan_run(merge, &mt) == VKATTN_INVALID_ARGUMENT &&
            strstr(vkattn_last_error(), "t.o_part_stride = 0") != NULL,
        "zero part stride refused: %s", vkattn_last_error());
  vkattn_merge_plan_destroy(merge);
  vkattn_tensor_destroy(parts);
  vkattn_tensor_destroy(lse_parts);
  vkattn_tensor_destroy(out);
  vkattn_tensor_destroy(out_lse);
}

/* K and V in a paged cache of 8-token blocks, the table reversed: the same O. */
static void paged(vkattn_context ctx, vkattn_tensor tq, const float* k, const float* v, vkattn_tensor_view slopes_view,
                  const double* o_ref) {
  enum { BS = 8, BLOCKS = (S + BS - 1) / BS };
  const int64_t pool_shape[4] = {BLOCKS, BS, H, D};
  const int64_t out_shape[4] = {B, H, S, D};
  static float pk[BLOCKS * BS * H * D], pv[BLOCKS * BS * H * D], o[N];
  int32_t table[BLOCKS];
  int32_t lens[B] = {S};
  vkattn_tensor tpk, tpv, out;
  vkattn_attention_desc desc;
  vkattn_forward_plan plan = NULL;
  vkattn_forward_tensors ft;
  vkattn_status s;
  double max_ref, err;
  int blk, h, j, d;
  memset(pk, 0, sizeof pk);
  memset(pv, 0, sizeof pv);
  for (blk = 0; blk < BLOCKS; ++blk) table[blk] = BLOCKS - 1 - blk;
  for (h = 0; h < H; ++h)
    for (j = 0; j < S; ++j)
      for (d = 0; d < D; ++d) {
        const int at = ((table[j / BS] * BS + j % BS) * H + h) * D + d; /* [block][row][head][d] */
        pk[at] = k[(h * S + j) * D + d];
        pv[at] = v[(h * S + j) * D + d];
      }
  tpk = make(ctx, VKATTN_F32, 4, pool_shape, pk, BLOCKS * BS * H * D);
  tpv = make(ctx, VKATTN_F32, 4, pool_shape, pv, BLOCKS * BS * H * D);
  out = make(ctx, VKATTN_F32, 4, out_shape, NULL, 0);
  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F32;
  desc.batch = B;
  desc.q_heads = H;
  desc.seq_q = desc.seq_k = S;
  desc.head_dim = D;
  desc.causal = 1;
  desc.alibi = VKATTN_ALIBI_PER_HEAD;
  desc.write_lse = 0;
  desc.paged_block_size = BS, desc.paged_num_blocks = BLOCKS, desc.paged_max_blocks = BLOCKS;
  desc.block_table = table, desc.block_table_count = BLOCKS;
  desc.cache_lens = lens, desc.cache_lens_count = B;
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  CHECK(s == VKATTN_OK, "paged plan: %s", vkattn_last_error());
  memset(&ft, 0, sizeof ft);
  ft.q = vkattn_tensor_get_view(tq);
  /* [blocks, Hkv, block_size, D] over [block][row][head][d] memory (vLLM's order) */
  ft.k = vkattn_tensor_get_view(tpk);
  ft.k.shape[1] = H, ft.k.shape[2] = BS, ft.k.strides[1] = D, ft.k.strides[2] = H * D;
  ft.v = vkattn_tensor_get_view(tpv);
  ft.v.shape[1] = H, ft.v.shape[2] = BS, ft.v.strides[1] = D, ft.v.strides[2] = H * D;
  ft.o = vkattn_tensor_get_view(out);
  ft.alibi_slopes = &slopes_view;
  CHECK(vkattn_tensor_fill(out, NAN) == VKATTN_OK, "fill");
  s = vkattn_forward_plan_run(plan, &ft);
  CHECK(s == VKATTN_OK, "paged run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(out, o, N) == VKATTN_OK, "download paged O");
  err = max_error(o, o_ref, N, &max_ref);
  CHECK(err <= 1e-5, "paged O: max error %g", err);
  vkattn_forward_plan_destroy(plan);
  table[1] = BLOCKS; /* past the pool */
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  CHECK(s == VKATTN_INVALID_ARGUMENT && plan == NULL &&
            strstr(vkattn_last_error(), "desc.paged_kv.block_table[1] (sequence 0, block 1) = 3") != NULL,
        "bad table refused: %s", vkattn_last_error());
  desc.cache_lens_count = 0; /* an array with its count forgotten */
  s = vkattn_forward_plan_create(ctx, &desc, &plan);
  CHECK(s == VKATTN_INVALID_ARGUMENT && plan == NULL &&
            strstr(vkattn_last_error(), "desc.cache_lens is not NULL but its count is 0") != NULL,
        "array without count refused: %s", vkattn_last_error());
  vkattn_tensor_destroy(tpk);
  vkattn_tensor_destroy(tpv);
  vkattn_tensor_destroy(out);
}

int main(void) {
  static float q[N], k[N], v[N], d_o[N], o[N], lse[B * H * S], dq[N], dk[N], dv[N];
  static double o_ref[N], lse_ref[B * H * S], dq_ref[N], dk_ref[N], dv_ref[N];
  const int64_t qkv_shape[4] = {B, H, S, D};
  const int64_t lse_shape[3] = {B, H, S};
  const int64_t slope_shape[1] = {H};
  int major = -1, minor = -1, patch = -1, h, i, j, d;
  unsigned state = 12345u;
  double max_ref, err;
  vkattn_context_options options;
  vkattn_context ctx = NULL;
  vkattn_device_info info;
  vkattn_attention_desc desc;
  vkattn_forward_plan fwd = NULL;
  vkattn_backward_plan bwd = NULL;
  vkattn_tensor tq, tk, tv, to, tlse, tslopes, tdo, tdq, tdk, tdv;
  vkattn_forward_tensors ft;
  vkattn_backward_tensors bt;
  vkattn_tensor_view slopes_view, lse_view, bad_q;
  vkattn_status s;

  CHECK(strcmp(vkattn_version(&major, &minor, &patch), "0.2.0") == 0 && major == 0 && minor == 2 && patch == 0,
        "version %d.%d.%d", major, minor, patch);

  vkattn_context_options_init(&options);
  options.enable_validation = 1;
  options.persist_pipeline_cache = 0;
  options.log = on_log;
  s = vkattn_context_create(&options, &ctx);
  CHECK(s == VKATTN_OK, "vkattn_context_create: %s", vkattn_last_error());
  if (s != VKATTN_OK) return 1;
  CHECK(vkattn_context_device_info(ctx, &info) == VKATTN_OK && info.name[0] != '\0', "device info");
  khr_path_request(ctx, &info);
  dropout_keep_arguments();

  for (i = 0; i < N; ++i) {
    q[i] = next_value(&state);
    k[i] = next_value(&state);
    v[i] = next_value(&state);
    d_o[i] = next_value(&state);
  }
  tq = make(ctx, VKATTN_F32, 4, qkv_shape, q, N);
  tk = make(ctx, VKATTN_F32, 4, qkv_shape, k, N);
  tv = make(ctx, VKATTN_F32, 4, qkv_shape, v, N);
  tdo = make(ctx, VKATTN_F32, 4, qkv_shape, d_o, N);
  to = make(ctx, VKATTN_F32, 4, qkv_shape, NULL, 0);
  tlse = make(ctx, VKATTN_F32, 3, lse_shape, NULL, 0);
  tslopes = make(ctx, VKATTN_F32, 1, slope_shape, kSlopes, H);
  tdq = make(ctx, VKATTN_F32, 4, qkv_shape, NULL, 0);
  tdk = make(ctx, VKATTN_F32, 4, qkv_shape, NULL, 0);
  tdv = make(ctx, VKATTN_F32, 4, qkv_shape, NULL, 0);

  /* The reference: O, LSE and the gradients of L = sum(O * dO). */
  memset(dq_ref, 0, sizeof dq_ref);
  memset(dk_ref, 0, sizeof dk_ref);
  memset(dv_ref, 0, sizeof dv_ref);
  for (h = 0; h < H; ++h) {
    for (i = 0; i < S; ++i) {
      double p[S], delta = 0.0, dot, top = -INFINITY, sum = 0.0;
      const double scale = 1.0 / sqrt((double)D);
      probabilities(q, k, h, i, p);
      for (d = 0; d < D; ++d) {
        double acc = 0.0;
        for (j = 0; j <= i; ++j) acc += p[j] * v[(h * S + j) * D + d];
        o_ref[(h * S + i) * D + d] = acc;
        delta += acc * d_o[(h * S + i) * D + d];
      }
      for (j = 0; j <= i; ++j) { /* LSE = log sum exp of the scores */
        dot = 0.0;
        for (d = 0; d < D; ++d) dot += (double)q[(h * S + i) * D + d] * k[(h * S + j) * D + d];
        dot = dot * scale - kSlopes[h] * (double)(i - j);
        if (dot > top) top = dot;
      }
      for (j = 0; j <= i; ++j) {
        dot = 0.0;
        for (d = 0; d < D; ++d) dot += (double)q[(h * S + i) * D + d] * k[(h * S + j) * D + d];
        sum += exp(dot * scale - kSlopes[h] * (double)(i - j) - top);
      }
      lse_ref[h * S + i] = top + log(sum);
      for (j = 0; j <= i; ++j) {
        double dp = 0.0, ds;
        for (d = 0; d < D; ++d) dp += (double)d_o[(h * S + i) * D + d] * v[(h * S + j) * D + d];
        ds = p[j] * (dp - delta); /* dL/ds_ij; ALiBi's term does not depend on Q or K */
        for (d = 0; d < D; ++d) {
          dq_ref[(h * S + i) * D + d] += ds * scale * k[(h * S + j) * D + d];
          dk_ref[(h * S + j) * D + d] += ds * scale * q[(h * S + i) * D + d];
          dv_ref[(h * S + j) * D + d] += p[j] * d_o[(h * S + i) * D + d];
        }
      }
    }
  }

  vkattn_attention_desc_init(&desc);
  desc.dtype = VKATTN_F32;
  desc.batch = B;
  desc.q_heads = H;
  desc.seq_q = desc.seq_k = S;
  desc.head_dim = D;
  desc.causal = 1;
  desc.alibi = VKATTN_ALIBI_PER_HEAD;
  s = vkattn_forward_plan_create(ctx, &desc, &fwd);
  CHECK(s == VKATTN_OK, "vkattn_forward_plan_create: %s", vkattn_last_error());
  CHECK(strstr(vkattn_forward_plan_variant_name(fwd), "attn_fwd_d16_f32_causal_br_alibi") != NULL, "variant %s",
        vkattn_forward_plan_variant_name(fwd));

  memset(&ft, 0, sizeof ft);
  ft.q = vkattn_tensor_get_view(tq);
  ft.k = vkattn_tensor_get_view(tk);
  ft.v = vkattn_tensor_get_view(tv);
  ft.o = vkattn_tensor_get_view(to);
  lse_view = vkattn_tensor_get_view(tlse);
  slopes_view = vkattn_tensor_get_view(tslopes);
  ft.lse = &lse_view;
  ft.alibi_slopes = &slopes_view;
  CHECK(vkattn_tensor_fill(to, NAN) == VKATTN_OK, "fill"); /* poisoned: every element must be written */
  s = vkattn_forward_plan_run(fwd, &ft);
  CHECK(s == VKATTN_OK, "vkattn_forward_plan_run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(to, o, N) == VKATTN_OK, "download o");
  CHECK(vkattn_tensor_download(tlse, lse, B * H * S) == VKATTN_OK, "download lse");
  err = max_error(o, o_ref, N, &max_ref);
  CHECK(err <= 1e-5, "O: max error %g", err);
  err = max_error(lse, lse_ref, B * H * S, &max_ref);
  CHECK(err <= 1e-4, "LSE: max error %g", err);

  s = vkattn_backward_plan_create(ctx, &desc, 0, &bwd);
  CHECK(s == VKATTN_OK, "vkattn_backward_plan_create: %s", vkattn_last_error());
  memset(&bt, 0, sizeof bt);
  bt.q = ft.q;
  bt.k = ft.k;
  bt.v = ft.v;
  bt.o = ft.o;
  bt.d_o = vkattn_tensor_get_view(tdo);
  bt.lse = lse_view;
  bt.dq = vkattn_tensor_get_view(tdq);
  bt.dk = vkattn_tensor_get_view(tdk);
  bt.dv = vkattn_tensor_get_view(tdv);
  bt.alibi_slopes = &slopes_view;
  s = vkattn_backward_plan_run(bwd, &bt);
  CHECK(s == VKATTN_OK, "vkattn_backward_plan_run: %s", vkattn_last_error());
  CHECK(vkattn_tensor_download(tdq, dq, N) == VKATTN_OK && vkattn_tensor_download(tdk, dk, N) == VKATTN_OK &&
            vkattn_tensor_download(tdv, dv, N) == VKATTN_OK,
        "download gradients");
  err = max_error(dq, dq_ref, N, &max_ref);
  CHECK(err <= 1e-4 * (1.0 + max_ref), "dQ: max error %g (max |ref| %g)", err, max_ref);
  err = max_error(dk, dk_ref, N, &max_ref);
  CHECK(err <= 1e-4 * (1.0 + max_ref), "dK: max error %g (max |ref| %g)", err, max_ref);
  err = max_error(dv, dv_ref, N, &max_ref);
  CHECK(err <= 1e-4 * (1.0 + max_ref), "dV: max error %g (max |ref| %g)", err, max_ref);

  /* Bad input: a code and a message naming the field and value; nothing written. */
  {
    vkattn_attention_desc bad = desc;
    vkattn_forward_plan none = NULL;
    bad.head_dim = 12;
    s = vkattn_forward_plan_create(ctx, &bad, &none);
    CHECK(s == VKATTN_INVALID_ARGUMENT && none == NULL, "bad head dim: status %d", (int)s);
    CHECK(strstr(vkattn_last_error(), "desc.head_dim = 12") != NULL, "message: %s", vkattn_last_error());
  }
  CHECK(vkattn_tensor_fill(to, 7.0f) == VKATTN_OK, "fill");
  bad_q = ft.q;
  bad_q.shape[2] = S + 1; /* Sq = 21 against the plan's 20 */
  {
    vkattn_forward_tensors bad_tensors = ft;
    bad_tensors.q = bad_q;
    s = vkattn_forward_plan_run(fwd, &bad_tensors);
    CHECK(s == VKATTN_INVALID_ARGUMENT, "bad q: status %d", (int)s);
    CHECK(strstr(vkattn_last_error(), "q.shape[2] (Sq) = 21") != NULL, "message: %s", vkattn_last_error());
  }
  CHECK(vkattn_tensor_download(to, o, N) == VKATTN_OK, "download o");
  for (i = 0; i < N && o[i] == 7.0f; ++i) {
  }
  CHECK(i == N, "O changed by a refused call at element %d", i);
  CHECK(vkattn_context_create(&options, NULL) == VKATTN_INVALID_ARGUMENT, "NULL out refused");
  partial_and_merge(ctx, tq, tk, tv, slopes_view, o_ref, lse_ref);
  paged(ctx, tq, k, v, slopes_view, o_ref);
  bf16_forward(ctx, q, k, v, slopes_view);
  dropout_forward(ctx, tq, tk, tv, q, k, v, slopes_view);

  vkattn_backward_plan_destroy(bwd);
  vkattn_forward_plan_destroy(fwd);
  vkattn_tensor_destroy(tq);
  vkattn_tensor_destroy(tk);
  vkattn_tensor_destroy(tv);
  vkattn_tensor_destroy(to);
  vkattn_tensor_destroy(tlse);
  vkattn_tensor_destroy(tslopes);
  vkattn_tensor_destroy(tdo);
  vkattn_tensor_destroy(tdq);
  vkattn_tensor_destroy(tdk);
  vkattn_tensor_destroy(tdv);
  vkattn_context_destroy(ctx);
  CHECK(g_validation_messages == 0, "%d validation messages", g_validation_messages);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
