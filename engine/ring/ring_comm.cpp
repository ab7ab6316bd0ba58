#include "ring/ring_comm.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "base/vk_util.hpp"

namespace vkattn {
namespace {
constexpr std::size_t kMaxMessage = std::size_t{1} << 30;  // MPI counts are int
constexpr std::size_t kAgreeMessage = 500;                  // bytes of message text per rank in agree()

struct AgreeRecord {
  std::int32_t code = 0;
  char message[kAgreeMessage] = {};
};
}  // namespace

Result<RingComm> RingComm::create(MPI_Comm comm, std::chrono::milliseconds timeout) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return invalid("ring: MPI is not initialized (call MPI_Init first)");
  RingComm c;
  c.timeout_ = timeout;
  // MPI_Comm_dup is collective: every rank must reach it (create() is documented as collective).
  int rc = MPI_Comm_dup(comm, &c.comm_);
  if (rc != MPI_SUCCESS) return c.mpi_error(rc, "MPI_Comm_dup");
  MPI_Comm_set_errhandler(c.comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c.comm_, &c.rank_);
  MPI_Comm_size(c.comm_, &c.ranks_);
  return c;
}

RingComm::RingComm(RingComm&& o) noexcept
    : comm_(o.comm_), rank_(o.rank_), ranks_(o.ranks_), timeout_(o.timeout_), pending_(std::move(o.pending_)) {
  o.comm_ = MPI_COMM_NULL;
}

RingComm& RingComm::operator=(RingComm&& o) noexcept {
  std::swap(comm_, o.comm_);
  rank_ = o.rank_, ranks_ = o.ranks_, timeout_ = o.timeout_;
  std::swap(pending_, o.pending_);
  return *this;
}

RingComm::~RingComm() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized && pending_.empty()) MPI_Comm_free(&comm_);
}

Status RingComm::mpi_error(int code, const std::string& call) const {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(code, text, &len);
  return Status(ErrorCode::kCommunication, "ring: rank " + num(rank_) + ": " + call + " failed: " + text);
}

Status RingComm::wait_requests(std::vector<MPI_Request>& requests, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (true) {
    int done = 0;
    const int rc = MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Testall (" + what + ")");
    if (done) {
      requests.clear();
      return Status::ok();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(ErrorCode::kCommunication,
                    "ring: rank " + num(rank_) + ": " + what + " not complete within " + num(timeout_.count()) +
                        " ms (RingDesc::timeout): a peer died or stopped answering; end the job");
    }
    std::this_thread::yield();
  }
}

Status RingComm::agree(const Status& local, const char* what) {
  AgreeRecord mine;
  mine.code = static_cast<std::int32_t>(local.code());
  std::strncpy(mine.message, local.message().c_str(), kAgreeMessage - 1);
  // On the heap, and kept if the collective does not complete: MPI may still write into them.
  auto* own = new AgreeRecord(mine);
  auto* all_records = new std::vector<AgreeRecord>(static_cast<std::size_t>(ranks_));
  std::vector<MPI_Request> req(1);
  const int rc = MPI_Iallgather(own, sizeof mine, MPI_BYTE, all_records->data(), sizeof mine, MPI_BYTE, comm_, req.data());
  if (rc != MPI_SUCCESS) return mpi_error(rc, std::string("MPI_Iallgather (") + what + ")");
  if (Status s = wait_requests(req, what); !s) {
    pending_.insert(pending_.end(), req.begin(), req.end());  // never freed: the ring is unusable now
    return s;
  }
  const std::vector<AgreeRecord> all = std::move(*all_records);
  delete all_records;
  delete own;
  for (int r = 0; r < ranks_; ++r) {
    const AgreeRecord& a = all[static_cast<std::size_t>(r)];
    if (a.code != 0) return Status(static_cast<ErrorCode>(a.code), "ring: rank " + num(r) + ": " + a.message);
  }
  return Status::ok();
}

Result<std::vector<std::vector<std::int64_t>>> RingComm::allgather(const std::vector<std::int64_t>& mine,
                                                                   const char* what) {
  const std::size_t n = mine.size();
  // As in agree(): kept if the collective does not complete.
  auto* own = new std::vector<std::int64_t>(mine);
  auto* gathered = new std::vector<std::int64_t>(n * static_cast<std::size_t>(ranks_));
  std::vector<MPI_Request> req(1);
  const int rc = MPI_Iallgather(own->data(), static_cast<int>(n), MPI_INT64_T, gathered->data(), static_cast<int>(n),
                                MPI_INT64_T, comm_, req.data());
  if (rc != MPI_SUCCESS) return mpi_error(rc, std::string("MPI_Iallgather (") + what + ")");
  if (Status s = wait_requests(req, what); !s) {
    pending_.insert(pending_.end(), req.begin(), req.end());
    return s;
  }
  const std::vector<std::int64_t> flat = std::move(*gathered);
  delete gathered;
  delete own;
  std::vector<std::vector<std::int64_t>> out;
  for (int r = 0; r < ranks_; ++r) {
    const auto at = flat.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(r) * n);
    out.emplace_back(at, at + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

Status RingComm::post(const std::vector<const std::vector<std::byte>*>& out,
                      const std::vector<std::vector<std::byte>*>& in, int tag) {
  // Buffer i's piece p travels under tag * 1024 + i * 64 + p (below the 32767 every MPI allows for
  // small tags and buffers): pieces never match across buffers.
  const auto pieces = [&](std::size_t i, std::size_t bytes, auto&& each) -> Status {
    int p = 0;
    for (std::size_t at = 0; at < bytes || (bytes == 0 && at == 0); at += kMaxMessage) {
      VKATTN_TRY(each(at, std::min(kMaxMessage, bytes - at), tag * 1024 + static_cast<int>(i) * 64 + p++));
      if (bytes == 0) break;
    }
    return Status::ok();
  };
  for (std::size_t k = 0; k < out.size(); ++k) {
    const std::vector<std::byte>* o = out[k];
    VKATTN_TRY(pieces(k, o->size(), [&](std::size_t at, std::size_t n, int t) -> Status {
      MPI_Request r;
      const int rc = MPI_Isend(o->data() + at, static_cast<int>(n), MPI_BYTE, next(), t, comm_, &r);
      if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Isend");
      pending_.push_back(r);
      return Status::ok();
    }));
  }
  for (std::size_t k = 0; k < in.size(); ++k) {
    std::vector<std::byte>* i = in[k];
    VKATTN_TRY(pieces(k, i->size(), [&](std::size_t at, std::size_t n, int t) -> Status {
      MPI_Request r;
      const int rc = MPI_Irecv(i->data() + at, static_cast<int>(n), MPI_BYTE, prev(), t, comm_, &r);
      if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Irecv");
      pending_.push_back(r);
      return Status::ok();
    }));
  }
  return Status::ok();
}

Status RingComm::wait(const std::string& what) {
  if (progress_error_ != MPI_SUCCESS) return mpi_error(progress_error_, "MPI_Testall (" + what + ", while computing)");
  return wait_requests(pending_, what);
}

bool RingComm::progress() {
  if (pending_.empty() || progress_error_ != MPI_SUCCESS) return false;
  int done = 0;
  const int rc = MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) {
    progress_error_ = rc;  // pending_ stays: its buffers must outlive whatever MPI still holds
    return false;
  }
  if (done) pending_.clear();  // every request completed (and is MPI_REQUEST_NULL now)
  return !done;
}

}  // namespace vkattn
