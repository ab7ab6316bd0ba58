// The checks RingAttention::create makes of a RingDesc: each rank's own (what a shard problem
// may not use), then that every rank holds the same desc.
#pragma once

#include "ring/ring_comm.hpp"
#include "vkattn/ring.hpp"

namespace vkattn {

// What a shard problem may not use (ring.hpp), and the lengths of rank `rank`'s shard.
Status check_ring_desc(const RingDesc& d, int ranks, int rank);

// Every rank's desc against rank 0's (all ranks call it): the first field that differs, named
// as a user wrote it ("ring: rank 2 has desc.attention.head_dim = 64, rank 0 has 128 ...").
Status check_ring_descs_agree(RingComm& comm, const RingDesc& d);

}  // namespace vkattn
