// The ring's communication: its own duplicate of the caller's communicator (MPI_ERRORS_RETURN),
// non-blocking exchanges with the neighbours and non-blocking collectives, each waited for with
// a deadline so that a dead or stuck peer becomes kCommunication instead of a hang.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vkattn/status.hpp"

namespace vkattn {

class RingComm {
 public:
  RingComm() = default;
  static Result<RingComm> create(MPI_Comm comm, std::chrono::milliseconds timeout);
  RingComm(RingComm&& o) noexcept;
  RingComm& operator=(RingComm&& o) noexcept;
  ~RingComm();

  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  int next() const { return (rank_ + 1) % ranks_; }
  int prev() const { return (rank_ + ranks_ - 1) % ranks_; }

  // Every rank passes its own local outcome; every rank gets the same answer: ok, or the first
  // failing rank's code with "ring: rank k: <its message>".
  Status agree(const Status& local, const char* what);
  // Every rank's `mine` (all the same length), in rank order.
  Result<std::vector<std::vector<std::int64_t>>> allgather(const std::vector<std::int64_t>& mine, const char* what);

  // Posts sends of `out[i]` to next() and receives of `in[i]` (already sized) from prev(); no
  // wait. Messages above 1 GiB go in pieces.
  Status post(const std::vector<const std::vector<std::byte>*>& out, const std::vector<std::vector<std::byte>*>& in,
              int tag);
  // Waits for everything posted, at most the timeout; `what` names the transfer in the error.
  // Polls MPI without sleeping (yielding the core to other runnable processes): MPI moves a
  // large message only inside its calls, and a 50 us sleep between polls held the transfers to
  // about 1 GB/s on the H100 host (bench/RESULTS_H100.md, twenty-fifth session).
  Status wait(const std::string& what);
  // One poll of everything posted: lets MPI move the transfers in flight (the ring calls it while
  // the GPU computes, through QueueSubmitter::set_wait_hook). False when nothing is left in
  // flight (everything completed, or a poll failed). A failure is kept and returned by the next
  // wait(), with the requests left pending (the ring is then unusable).
  bool progress();
  // Requests still with MPI after a failure (a timeout): their buffers must stay alive.
  bool pending() const { return !pending_.empty(); }

 private:
  Status wait_requests(std::vector<MPI_Request>& requests, const std::string& what);
  Status mpi_error(int code, const std::string& call) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int ranks_ = 1;
  std::chrono::milliseconds timeout_{60000};
  std::vector<MPI_Request> pending_;
  int progress_error_ = MPI_SUCCESS;  // the first failed poll of progress(), for wait()
};

}  // namespace vkattn
