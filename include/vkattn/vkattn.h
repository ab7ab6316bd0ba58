/* vkattn/vkattn.h — the C API (C11): vkattn for C, Rust, Zig, Python (ctypes/cffi) and any
 * language with a C FFI. It wraps the C++ API one to one: contexts (own device or the host's),
 * tensors, forward and backward plans with every mask and score_mod, recording into the host's
 * VkCommandBuffer or running on the context's queue. No C++ type appears here.
 *
 * Errors: every function that can fail returns a vkattn_status; VKATTN_OK is 0. The message of the
 * last failed call on the calling thread (naming the field and the value, as the C++ API does) is
 * vkattn_last_error(). Handles are opaque; each *_destroy accepts NULL. Plans and tensors must be
 * destroyed before their context. A plan is used by one thread at a time. */
#ifndef VKATTN_VKATTN_H
#define VKATTN_VKATTN_H

#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan_core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and version ---------------------------------------------------------------- */

typedef enum vkattn_status {
  VKATTN_OK = 0,
  VKATTN_INVALID_ARGUMENT = 1, /* a parameter, shape, stride or buffer failed validation; nothing recorded */
  VKATTN_UNSUPPORTED = 2,      /* well formed, but this device or path cannot run it */
  VKATTN_NOT_FOUND = 3,        /* no physical device matched the selection */
  VKATTN_OUT_OF_MEMORY = 4,
  VKATTN_DEVICE_LOST = 5,
  VKATTN_VULKAN_ERROR = 6, /* another failing VkResult */
  VKATTN_IO_ERROR = 7,     /* file system error (pipeline cache file) */
  VKATTN_COMMUNICATION_ERROR = 8 /* ring attention (vkattn/ring.hpp): MPI failed or a peer timed out */
} vkattn_status;

/* The message of the last call on this thread that did not return VKATTN_OK ("" if none). Valid
 * until the next failing call on this thread. */
const char* vkattn_last_error(void);
/* The library's version, e.g. "0.2.0"; the numbers through the optional pointers. */
const char* vkattn_version(int* major, int* minor, int* patch);

/* ---- contexts ----------------------------------------------------------------------------- */

typedef struct vkattn_context_t* vkattn_context;

typedef enum vkattn_kernel_path {
  VKATTN_PATH_AUTO = 0,   /* tensor cores where the device and the problem allow, else scalar */
  VKATTN_PATH_SCALAR = 1, /* portable fp32 kernels */
  VKATTN_PATH_COOPMAT = 2, /* VK_NV_cooperative_matrix */
  VKATTN_PATH_COOPMAT_KHR = 3, /* the same kernels with VK_KHR_cooperative_matrix */
  VKATTN_PATH_COOPMAT2 = 4     /* forward and backward on VK_NV_cooperative_matrix2 */
} vkattn_kernel_path;

/* Receives every message the engine emits (level 0 info, 1 warning, 2 error; validation-layer
 * messages start with "validation:"); `message` is NUL-terminated and valid during the call. Must be
 * thread-safe. NULL: messages go to stderr. */
typedef void (*vkattn_log_fn)(int level, const char* message, void* user);

typedef struct vkattn_context_options {
  const char* device;           /* owned devices: index or name substring; NULL: env VKATTN_DEVICE, else the best */
  int enable_validation;        /* owned devices: VK_LAYER_KHRONOS_validation (env VKATTN_VALIDATION=1 too) */
  int force_pooled_descriptors; /* pooled descriptor sets even where push descriptors exist */
  int persist_pipeline_cache;   /* keep the VkPipelineCache in a file across runs */
  const char* pipeline_cache_path; /* NULL: env VKATTN_PIPELINE_CACHE, else $XDG_CACHE_HOME/vkattn/... */
  vkattn_kernel_path path;      /* used where a desc says AUTO (env VKATTN_PATH when AUTO here) */
  vkattn_log_fn log;
  void* log_user; /* passed to `log` */
} vkattn_context_options;

/* The defaults: best device, no validation, push descriptors, persistent cache, automatic path. */
void vkattn_context_options_init(vkattn_context_options* options);

/* A Vulkan 1.3 instance and device of vkattn's own. `options` may be NULL (the defaults). */
vkattn_status vkattn_context_create(const vkattn_context_options* options, vkattn_context* out);

/* The handles of a host application; none is destroyed by vkattn (see vkattn/device.hpp). */
typedef struct vkattn_host_handles {
  VkInstance instance;
  VkPhysicalDevice physical_device;
  VkDevice device; /* Vulkan 1.3 with maintenance4 enabled */
  VkQueue queue;   /* compute-capable; used by run() and the tensor helpers */
  uint32_t queue_family_index;
  const char* const* enabled_device_extensions; /* the device extensions the host enabled */
  uint32_t enabled_device_extension_count;
  int debug_utils_enabled; /* VK_EXT_debug_utils enabled on the instance */
} vkattn_host_handles;

/* Adopts the host's device (creates none; `options` may be NULL). Where the device has
 * VK_NV_cooperative_matrix, one small probe dispatch runs on host->queue and is waited for. */
vkattn_status vkattn_context_adopt(const vkattn_host_handles* host, const vkattn_context_options* options,
                                   vkattn_context* out);
/* Saves the pipeline cache (if persisting) and destroys what vkattn created, never the host's
 * handles. Its tensors and plans must be destroyed first. */
void vkattn_context_destroy(vkattn_context context);

typedef struct vkattn_device_info {
  char name[256];
  uint32_t vendor_id;
  uint32_t device_id;
  uint32_t api_version;
  uint32_t subgroup_size;
  uint32_t max_shared_memory; /* maxComputeSharedMemorySize */
  int coopmat;                /* the tensor-core path is usable */
  int push_descriptors;
  int coopmat_khr; /* the VK_KHR_cooperative_matrix path is usable */
  int coopmat2;    /* the VK_NV_cooperative_matrix2 path is usable */
} vkattn_device_info;

/* What vkattn knows about the context's device. */
vkattn_status vkattn_context_device_info(vkattn_context context, vkattn_device_info* out);

/* ---- tensors ------------------------------------------------------------------------------- */

typedef enum vkattn_dtype { VKATTN_F32 = 0, VKATTN_F16 = 1, VKATTN_I32 = 2, VKATTN_BF16 = 3 } vkattn_dtype;

/* A strided view of the caller's VkBuffer (storage-buffer usage), as vkattn::TensorView. */
typedef struct vkattn_tensor_view {
  VkBuffer buffer;
  VkDeviceSize buffer_size; /* bytes of the whole buffer, for bounds checks */
  VkDeviceSize offset;      /* bytes to element [0, 0, ...] */
  vkattn_dtype dtype;
  int32_t rank; /* 1..4 */
  int64_t shape[4];
  int64_t strides[4]; /* in elements */
} vkattn_tensor_view;

/* A dense row-major view of `shape` (rank entries). */
vkattn_tensor_view vkattn_view_contiguous(VkBuffer buffer, VkDeviceSize buffer_size, vkattn_dtype dtype, int32_t rank,
                                          const int64_t* shape, VkDeviceSize offset);

/* Device-local storage owned by vkattn (a convenience for tests and small programs). */
typedef struct vkattn_tensor_t* vkattn_tensor;

/* A dense row-major device-local tensor of `shape` (rank 1..4 entries). */
vkattn_status vkattn_tensor_create(vkattn_context context, vkattn_dtype dtype, int32_t rank, const int64_t* shape,
                                   vkattn_tensor* out);
/* Converts from fp32 to the tensor's dtype; `count` must be its element count. Blocking. */
vkattn_status vkattn_tensor_upload(vkattn_tensor tensor, const float* values, size_t count);
/* Converts to fp32 into `values` (`count` elements). Blocking. */
vkattn_status vkattn_tensor_download(vkattn_tensor tensor, float* values, size_t count);
/* Every element set to `value` (e.g. NaN, to poison outputs). Blocking. */
vkattn_status vkattn_tensor_fill(vkattn_tensor tensor, float value);
/* The tensor's dense view, for the tensor structs of plans. */
vkattn_tensor_view vkattn_tensor_get_view(vkattn_tensor tensor);
void vkattn_tensor_destroy(vkattn_tensor tensor);

/* ---- the problem --------------------------------------------------------------------------- */

typedef enum vkattn_align { VKATTN_ALIGN_TOP_LEFT = 0, VKATTN_ALIGN_BOTTOM_RIGHT = 1 } vkattn_align;
typedef enum vkattn_alibi { VKATTN_ALIBI_NONE = 0, VKATTN_ALIBI_PER_HEAD = 1, VKATTN_ALIBI_PER_BATCH_HEAD = 2 } vkattn_alibi;

/* vkattn::AttentionDesc. Optional values come with a has_* flag. */
typedef struct vkattn_attention_desc {
  vkattn_dtype dtype; /* storage of Q, K, V, O: F32 or F16 */
  int64_t batch, q_heads, kv_heads, seq_q, seq_k, head_dim, head_dim_v; /* kv_heads, head_dim_v: 0 = like q */
  /* mask */
  int causal;
  int has_window_left;
  int64_t window_left;
  int has_window_right;
  int64_t window_right;
  vkattn_align align;
  int documents; /* doc_ids_q / doc_ids_kv tensors */
  int64_t q_offset, k_offset; /* partial attention: positions of the first query and key (mask.hpp) */
  /* score_mod */
  int has_softcap;
  float softcap;
  vkattn_alibi alibi;
  int has_rel_pos;
  int64_t rel_pos_max_distance;
  int has_bias;
  vkattn_dtype bias_dtype;
  int sinks;
  /* sequences: padding lengths (batch entries each) or varlen offsets (batch + 1 entries each) */
  const int32_t* seq_lens_q;
  size_t seq_lens_q_count;
  const int32_t* seq_lens_kv;
  size_t seq_lens_kv_count;
  const int32_t* cu_seqlens_q;
  size_t cu_seqlens_q_count;
  const int32_t* cu_seqlens_k;
  size_t cu_seqlens_k_count;
  /* other */
  int has_scale;
  float scale; /* default 1/sqrt(head_dim) */
  int write_lse;
  vkattn_kernel_path path;
  /* paged K/V cache (vkattn/paged_kv.hpp): block_size 0 = not paged. Host tables: block_table
   * [batch * max_blocks] and cache_lens [batch]; both NULL (count 0) = device tables, given per call
   * in vkattn_forward_tensors. */
  int64_t paged_block_size, paged_num_blocks, paged_max_blocks;
  const int32_t* block_table;
  size_t block_table_count;
  const int32_t* cache_lens;
  size_t cache_lens_count;
  /* dropout on P (vkattn/dropout.hpp): p in [0, 1), 0 = off; seed and offset per call in the tensors */
  float dropout_p;
  /* QK-norm and RoPE (vkattn/qk_transform.hpp). norm kinds: 0 none, 1 L2, 2 RMS (weights per call) */
  int q_norm_kind, k_norm_kind;
  float q_norm_eps, k_norm_eps;     /* > 0; vkattn_attention_desc_init sets 1e-6 */
  float q_norm_scale, k_norm_scale; /* L2's scale; init sets 1 */
  int rope_style;                   /* 0 none, 1 rotate-half, 2 interleaved pairs */
  double rope_theta;                /* init sets 10000 */
  int64_t rope_rotary_dim;          /* 0 = head_dim */
  int rope_positions;               /* 1: q_positions / k_positions tensors per call */
  int64_t rope_grid[3];             /* spatial RoPE: 2 or 3 extents (the rest 0); all 0 = 1D */
  int64_t rope_axis_dims[3];        /* per grid axis; all 0 = equal parts */
} vkattn_attention_desc;

/* The defaults: fp16, batch 1, one head, no mask (bottom-right alignment), no score_mod, LSE
 * written, automatic path. Sizes (seq_q, seq_k, head_dim) are left 0: set them. */
void vkattn_attention_desc_init(vkattn_attention_desc* desc);

/* Dropout's mask on the host (vkattn::dropout_keep, vkattn/dropout.hpp): 1 where element (b, h, i,
 * j) of a problem with q_heads query heads is kept under (seed, offset) and probability p, 0 where
 * it is dropped, -1 for arguments no problem has (p outside [0, 1) or NaN, q_heads < 1, a negative
 * index, h >= q_heads), with vkattn_last_error() naming the argument and its value. */
int vkattn_dropout_keep(uint64_t seed, uint32_t offset, float p, int64_t q_heads, int64_t b, int64_t h, int64_t i,
                        int64_t j);

/* ---- forward ------------------------------------------------------------------------------- */

typedef struct vkattn_forward_plan_t* vkattn_forward_plan;

/* vkattn::ForwardTensors; optional views are NULL when absent. */
typedef struct vkattn_forward_tensors {
  vkattn_tensor_view q, k, v, o;
  const vkattn_tensor_view* lse;
  const vkattn_tensor_view* bias;
  const vkattn_tensor_view* alibi_slopes;
  const vkattn_tensor_view* rel_pos_table;
  const vkattn_tensor_view* sinks;
  const vkattn_tensor_view* doc_ids_q;
  const vkattn_tensor_view* doc_ids_kv;
  const vkattn_tensor_view* block_table; /* paged cache with device tables: i32 [B, max_blocks] */
  const vkattn_tensor_view* cache_lens;  /* paged cache with device tables: i32 [B] */
  uint64_t dropout_seed;                 /* with dropout_p: this call's generator seed and offset */
  uint32_t dropout_offset;
  const vkattn_tensor_view* q_norm_weight; /* RMS QK-norm: f32 [head_dim] */
  const vkattn_tensor_view* k_norm_weight;
  const vkattn_tensor_view* q_positions;   /* rope_positions: i32 [B, Sq] (varlen [Tq]) */
  const vkattn_tensor_view* k_positions;   /* i32 [B, Sk] (varlen [Tk]) */
} vkattn_forward_tensors;

/* Checks `desc` against the device and builds (or finds) the pipelines of its variant. */
vkattn_status vkattn_forward_plan_create(vkattn_context context, const vkattn_attention_desc* desc,
                                         vkattn_forward_plan* out);
/* Checks the tensors, then records into `cmd` (the caller's barriers order it with its own work). */
vkattn_status vkattn_forward_plan_record(vkattn_forward_plan plan, VkCommandBuffer cmd,
                                         const vkattn_forward_tensors* tensors);
/* Checks the tensors, then submits on the context's queue and waits. */
vkattn_status vkattn_forward_plan_run(vkattn_forward_plan plan, const vkattn_forward_tensors* tensors);
/* The procedural variant name, e.g. "attn_fwd_d64_f16_causal_br_bq64_bk32_ks2_lse_scalar"; valid
 * while the plan lives. */
const char* vkattn_forward_plan_variant_name(vkattn_forward_plan plan);
/* Command buffers that recorded the plan must have finished executing. */
void vkattn_forward_plan_destroy(vkattn_forward_plan plan);

/* ---- backward ------------------------------------------------------------------------------ */

typedef struct vkattn_backward_plan_t* vkattn_backward_plan;

typedef struct vkattn_backward_tensors {
  vkattn_tensor_view q, k, v, o, d_o, lse; /* the forward's inputs, output, LSE, and dL/dO */
  vkattn_tensor_view dq, dk, dv;           /* written */
  const vkattn_tensor_view* bias;
  const vkattn_tensor_view* alibi_slopes;
  const vkattn_tensor_view* rel_pos_table;
  const vkattn_tensor_view* sinks;
  const vkattn_tensor_view* doc_ids_q;
  const vkattn_tensor_view* doc_ids_kv;
  const vkattn_tensor_view* dbias; /* parameter gradients, written iff given */
  const vkattn_tensor_view* drel_pos_table;
  const vkattn_tensor_view* dsinks;
  uint64_t dropout_seed; /* the forward call's */
  uint32_t dropout_offset;
  const vkattn_tensor_view* q_norm_weight; /* as in vkattn_forward_tensors */
  const vkattn_tensor_view* k_norm_weight;
  const vkattn_tensor_view* q_positions;
  const vkattn_tensor_view* k_positions;
  const vkattn_tensor_view* dq_norm_weight; /* written iff given: f32 [head_dim] */
  const vkattn_tensor_view* dk_norm_weight;
} vkattn_backward_tensors;

/* `fast_nondeterministic`: 0 for the default deterministic backward. */
vkattn_status vkattn_backward_plan_create(vkattn_context context, const vkattn_attention_desc* desc,
                                          int fast_nondeterministic, vkattn_backward_plan* out);
/* Checks the tensors, then records the backward's dispatches (with their barriers) into `cmd`. */
vkattn_status vkattn_backward_plan_record(vkattn_backward_plan plan, VkCommandBuffer cmd,
                                          const vkattn_backward_tensors* tensors);
/* Checks the tensors, then submits on the context's queue and waits. */
vkattn_status vkattn_backward_plan_run(vkattn_backward_plan plan, const vkattn_backward_tensors* tensors);
/* The procedural variant name, e.g. "attn_bwd_d64_f16_causal_br_br64_bc32_st2_scalar". */
const char* vkattn_backward_plan_variant_name(vkattn_backward_plan plan);
/* Command buffers that recorded the plan must have finished executing. */
void vkattn_backward_plan_destroy(vkattn_backward_plan plan);

/* ---- merge of partial results (vkattn/merge.hpp) -------------------------------------------- */

typedef struct vkattn_merge_plan_t* vkattn_merge_plan;

typedef struct vkattn_merge_desc {
  vkattn_dtype dtype;      /* storage of O */
  vkattn_dtype part_dtype; /* storage of the partial O's */
  int64_t batch, heads, seq, head_dim_v, num_parts;
  int accumulate; /* O and LSE hold a result already: merge the parts into it */
  int write_lse;
} vkattn_merge_desc;

typedef struct vkattn_merge_tensors {
  vkattn_tensor_view o_parts; /* [B, H, S, Dv] view of part 0 */
  int64_t o_part_stride;      /* elements from part n to part n + 1 */
  vkattn_tensor_view lse_parts;
  int64_t lse_part_stride;
  vkattn_tensor_view o;
  const vkattn_tensor_view* lse; /* iff write_lse */
} vkattn_merge_tensors;

vkattn_status vkattn_merge_plan_create(vkattn_context context, const vkattn_merge_desc* desc, vkattn_merge_plan* out);
vkattn_status vkattn_merge_plan_record(vkattn_merge_plan plan, VkCommandBuffer cmd, const vkattn_merge_tensors* tensors);
vkattn_status vkattn_merge_plan_run(vkattn_merge_plan plan, const vkattn_merge_tensors* tensors);
const char* vkattn_merge_plan_variant_name(vkattn_merge_plan plan);
void vkattn_merge_plan_destroy(vkattn_merge_plan plan);

/* ---- appends into a paged KV cache (vkattn/kv_append.hpp) ---------------------------------- */

typedef struct vkattn_kv_append_plan_t* vkattn_kv_append_plan;

typedef struct vkattn_kv_append_desc {
  vkattn_dtype dtype;
  int64_t batch, kv_heads, head_dim, head_dim_v, new_tokens;
  int64_t paged_block_size, paged_num_blocks, paged_max_blocks;
  const int32_t* block_table; /* host tables, or NULL (count 0) for device tables */
  size_t block_table_count;
  const int32_t* cache_lens; /* lengths before the append */
  size_t cache_lens_count;
} vkattn_kv_append_desc;

typedef struct vkattn_kv_append_tensors {
  vkattn_tensor_view k_new, v_new;     /* [B, Hkv, Snew, D] */
  vkattn_tensor_view k_cache, v_cache; /* [num_blocks, Hkv, block_size, D], written */
  const vkattn_tensor_view* block_table;
  const vkattn_tensor_view* cache_lens;
} vkattn_kv_append_tensors;

vkattn_status vkattn_kv_append_plan_create(vkattn_context context, const vkattn_kv_append_desc* desc,
                                           vkattn_kv_append_plan* out);
vkattn_status vkattn_kv_append_plan_record(vkattn_kv_append_plan plan, VkCommandBuffer cmd,
                                           const vkattn_kv_append_tensors* tensors);
vkattn_status vkattn_kv_append_plan_run(vkattn_kv_append_plan plan, const vkattn_kv_append_tensors* tensors);
const char* vkattn_kv_append_plan_variant_name(vkattn_kv_append_plan plan);
void vkattn_kv_append_plan_destroy(vkattn_kv_append_plan plan);

#ifdef __cplusplus
}
#endif

#endif /* VKATTN_VKATTN_H */
