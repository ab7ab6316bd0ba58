// vkattn/paged_kv.hpp — K and V in a paged cache (vLLM's PagedAttention, FlashInfer, and
// FlashAttention's flash_attn_with_kvcache with a block table).
//
// The keys and values of every sequence live in fixed-size blocks of a shared pool:
//   K pool: num_blocks blocks of block_size tokens, seen as the [num_blocks, Hkv, block_size, Dk]
//           view (any strides, Dk contiguous); vLLM's [num_blocks, block_size, Hkv, D] memory is
//           TensorView::attention(..., Layout::kBSHD, num_blocks, Hkv, block_size, D).
//   V pool: the same with Dv.
//   block_table[b, n]: the pool block holding keys n * block_size .. (n + 1) * block_size - 1 of
//           sequence b (int32, [B, max_blocks]).
//   cache_lens[b]:     the keys sequence b has (int32, [B]); key j of sequence b is row
//           j % block_size of block block_table[b, j / block_size]. Table entries past a
//           sequence's last block are never read (they may hold anything, -1 for instance).
// Queries are dense [B, Hq, Sq, Dk] (the new tokens: Sq = 1 for decode, more for chunked prefill,
// usually with a bottom-right causal mask so that new token i sees the cache and the new tokens up
// to itself); desc.sequences.seq_lens_q may pad them. desc.seq_k bounds the lengths (at most
// max_blocks * block_size); masks, score_mods and document ids index keys by their position j in
// the sequence.
//
// Tables on the host (block_table and cache_lens filled in here) are checked when the plan is
// created — every block a sequence uses must be in [0, num_blocks), every length in [0, seq_k] —
// and copied into the plan: a refusal names the field, the index and the value. Tables on the
// device (both vectors left empty: ForwardTensors::block_table and ::cache_lens at record time)
// change per call without a new plan, and are trusted: a block id outside the pool or a length
// past seq_k reads outside the views, which the device may not survive.
//
// KV appends write new tokens into the cache (kv_append.hpp). The paged cache is forward only and
// runs on the scalar and coopmat kernels (packed and split for decode, planning/split_k.hpp; on
// GPUs the KHR build of the coopmat kernel takes it by default). vkattn-run reads one from .npy
// files (--block-table, --cache-lens).
#pragma once

#include <cstdint>
#include <vector>

namespace vkattn {

struct PagedKV {
  std::int64_t block_size = 0;  // tokens per block: a power of two in [8, 256]; 0: K and V are not paged
  std::int64_t num_blocks = 0;  // blocks in the K and V pools
  std::int64_t max_blocks = 0;  // columns of the block table
  std::vector<std::int32_t> block_table;  // host table [B * max_blocks], row-major; empty: on the device
  std::vector<std::int32_t> cache_lens;   // host lengths [B]; empty: on the device

  bool enabled() const { return block_size != 0; }
  bool host_tables() const { return !block_table.empty() || !cache_lens.empty(); }
};

}  // namespace vkattn
