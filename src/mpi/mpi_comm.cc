// mpi_comm.cc — the Communicator over MPI (compiled only with -DDGM_MPI=ON; the
// one file that includes <mpi.h>). Every collective is started non-blocking
// and waited for in a loop that (1) gives up after the timeout with a message
// instead of hanging when a rank died or is stuck, (2) on rank 0 picks up the
// error report of a rank that failed on its own (abandon()), and (3) backs off
// to short sleeps, so that a waiting rank does not take a core from a rank
// still computing (several ranks on one machine, --oversubscribe).
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

#include "dgm/comm.h"

namespace dgm {
namespace {

constexpr int kErrorTag = 7301;                   // a rank's error report to rank 0
constexpr size_t kRoundBytes = size_t(1) << 30;   // per-rank bytes of one round of a large exchange

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(double timeout) : timeout_(timeout) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw IoError("MPI: initialisation failed");
      owns_ = true;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  ~MpiCommunicator() override {
    // After a failure another rank may never reach MPI_Finalize (it waits for
    // all): leave without it, and the launcher ends the job.
    if (healthy_ && owns_ && std::uncaught_exceptions() == 0) {
      MPI_Comm_free(&comm_);
      MPI_Finalize();
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(int64_t* data, size_t n) override {
    count(n * sizeof(int64_t));
    for (size_t done = 0; done < n;) {
      const int k = int(std::min<size_t>(n - done, size_t(1) << 28));
      MPI_Request req;
      call(MPI_Iallreduce(MPI_IN_PLACE, data + done, k, MPI_INT64_T, MPI_SUM, comm_, &req), "sum");
      wait(req, "sum");
      done += size_t(k);
    }
  }

  void max(double* data, size_t n) override {
    count(n * sizeof(double));
    for (size_t done = 0; done < n;) {
      const int k = int(std::min<size_t>(n - done, size_t(1) << 28));
      MPI_Request req;
      call(MPI_Iallreduce(MPI_IN_PLACE, data + done, k, MPI_DOUBLE, MPI_MAX, comm_, &req), "max");
      wait(req, "max");
      done += size_t(k);
    }
  }

  std::vector<std::string> all_gather(const std::string& mine) override {
    count(mine.size());
    uint64_t len = mine.size();
    std::vector<uint64_t> lens(size_t(size_), 0);
    MPI_Request req;
    call(MPI_Iallgather(&len, 1, MPI_UINT64_T, lens.data(), 1, MPI_UINT64_T, comm_, &req), "gather");
    wait(req, "gather");
    std::vector<std::string> out(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) out[size_t(r)].resize(size_t(lens[size_t(r)]));
    // Rounds of at most kRoundBytes / P bytes from each rank keep counts and
    // displacements within int.
    const uint64_t quota = std::max<uint64_t>(1, kRoundBytes / uint64_t(size_));
    const uint64_t longest = *std::max_element(lens.begin(), lens.end());
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    std::string buf;
    for (uint64_t off = 0; off < longest || off == 0; off += quota) {
      int total = 0;
      for (int r = 0; r < size_; ++r) {
        const uint64_t l = lens[size_t(r)];
        counts[size_t(r)] = int(l > off ? std::min(quota, l - off) : 0);
        displs[size_t(r)] = total;
        total += counts[size_t(r)];
      }
      buf.resize(size_t(total));
      const int mine_count = counts[size_t(rank_)];
      call(MPI_Iallgatherv(mine.data() + std::min<uint64_t>(off, len), mine_count, MPI_BYTE, buf.data(),
                           counts.data(), displs.data(), MPI_BYTE, comm_, &req),
           "gather");
      wait(req, "gather");
      for (int r = 0; r < size_; ++r)
        if (counts[size_t(r)])
          std::memcpy(&out[size_t(r)][size_t(off)], buf.data() + displs[size_t(r)], size_t(counts[size_t(r)]));
      if (longest == 0) break;
    }
    return out;
  }

  std::vector<std::string> all_to_all(const std::vector<std::string>& send) override {
    if (int(send.size()) != size_) throw Error("MPI: all_to_all needs one message per rank");
    uint64_t total = 0;
    for (int r = 0; r < size_; ++r) total += r == rank_ ? 0 : send[size_t(r)].size();
    count(total);
    std::vector<uint64_t> slen(static_cast<size_t>(size_)), rlen(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) slen[size_t(r)] = send[size_t(r)].size();
    MPI_Request req;
    call(MPI_Ialltoall(slen.data(), 1, MPI_UINT64_T, rlen.data(), 1, MPI_UINT64_T, comm_, &req), "exchange");
    wait(req, "exchange");
    std::vector<std::string> out(static_cast<size_t>(size_));
    uint64_t longest = 0;
    for (int r = 0; r < size_; ++r) {
      out[size_t(r)].resize(size_t(rlen[size_t(r)]));
      longest = std::max({longest, slen[size_t(r)], rlen[size_t(r)]});
    }
    double all_longest = double(longest);
    max(&all_longest, 1);  // every rank runs the same number of rounds
    const uint64_t quota = std::max<uint64_t>(1, kRoundBytes / uint64_t(size_));
    std::vector<int> sc(static_cast<size_t>(size_)), sd(static_cast<size_t>(size_)), rc(static_cast<size_t>(size_)), rd(static_cast<size_t>(size_));
    std::string sbuf, rbuf;
    for (uint64_t off = 0; double(off) < all_longest; off += quota) {
      int st = 0, rt = 0;
      for (int r = 0; r < size_; ++r) {
        const uint64_t a = slen[size_t(r)], b = rlen[size_t(r)];
        sc[size_t(r)] = int(a > off ? std::min(quota, a - off) : 0);
        rc[size_t(r)] = int(b > off ? std::min(quota, b - off) : 0);
        sd[size_t(r)] = st;
        rd[size_t(r)] = rt;
        st += sc[size_t(r)];
        rt += rc[size_t(r)];
      }
      sbuf.resize(size_t(st));
      rbuf.resize(size_t(rt));
      for (int r = 0; r < size_; ++r)
        if (sc[size_t(r)]) std::memcpy(&sbuf[size_t(sd[size_t(r)])], send[size_t(r)].data() + off, size_t(sc[size_t(r)]));
      call(MPI_Ialltoallv(sbuf.data(), sc.data(), sd.data(), MPI_BYTE, rbuf.data(), rc.data(), rd.data(), MPI_BYTE,
                          comm_, &req),
           "exchange");
      wait(req, "exchange");
      for (int r = 0; r < size_; ++r)
        if (rc[size_t(r)]) std::memcpy(&out[size_t(r)][size_t(off)], rbuf.data() + rd[size_t(r)], size_t(rc[size_t(r)]));
    }
    return out;
  }

  void abandon(const std::string& message) override {
    healthy_ = false;
    if (size_ == 1 || rank_ == 0) return;
    // Tell rank 0, which reports it and ends the job; leave after the timeout
    // if nobody does (rank 0 is gone or stuck).
    const std::string text = message.substr(0, 4000);
    MPI_Request req;
    const auto start = std::chrono::steady_clock::now();
    if (!text.empty() && MPI_Isend(text.data(), int(text.size()), MPI_CHAR, 0, kErrorTag, comm_, &req) == MPI_SUCCESS) {
      int done = 0;
      while (!done && seconds_since(start) < timeout_) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    while (seconds_since(start) < timeout_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    _exit(1);
  }

 private:
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  void call(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    healthy_ = false;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw IoError(std::string("MPI: ") + what + " failed: " + std::string(msg, size_t(len)));
  }

  // Rank 0: a report from a rank that failed on its own ends the wait.
  void poll_errors() {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kErrorTag, comm_, &flag, &st) != MPI_SUCCESS || !flag) return;
    int count = 0;
    MPI_Get_count(&st, MPI_CHAR, &count);
    std::string text(size_t(std::max(count, 0)), '\0');
    MPI_Recv(text.data(), count, MPI_CHAR, st.MPI_SOURCE, kErrorTag, comm_, MPI_STATUS_IGNORE);
    healthy_ = false;
    throw Error("rank " + std::to_string(st.MPI_SOURCE) + ": " + text);
  }

  void wait(MPI_Request& req, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    long spins = 0;
    auto pause = std::chrono::microseconds(10);
    while (true) {
      int done = 0;
      call(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (rank_ == 0 && (spins & 63) == 0) poll_errors();
      if (++spins > 2000) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(200));
      }
      if ((spins & 255) == 0 && seconds_since(start) > timeout_) {
        healthy_ = false;
        char t[32];
        std::snprintf(t, sizeof t, "%g", timeout_);
        throw Error(std::string("MPI: ") + what + ": no answer from the other ranks within " + t +
                    " s (a rank died, hangs, or is that much slower); raise --mpi-timeout if one step "
                    "legitimately takes longer");
      }
    }
  }

  double timeout_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_ = false, healthy_ = true;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds) {
  return std::make_unique<MpiCommunicator>(timeout_seconds);
}

}  // namespace dgm
