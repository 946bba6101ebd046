// comm.h — the processes (ranks) of a data-parallel run and the few collective
// operations training needs, behind an abstract Communicator: the MPI one
// (built with -DDGM_MPI=ON, chosen when the program runs under mpirun) and the
// trivial one-rank communicator of an ordinary run, which takes the same code
// path so that one process and P processes give the same model bytes.
//
//   std::unique_ptr<dgm::Communicator> comm = dgm::world_communicator();
//   int64_t n = local.size(); comm->sum(&n, 1);      // exact, on every rank
//   dgm::Range mine = dgm::shard_range(n, comm->rank(), comm->size());
//
// Every rank calls the same collectives in the same order; each is in place
// and leaves the same result on every rank. Sums are over integers only: an
// integer sum is exact, so it does not depend on the order in which the MPI
// library combines the ranks (a float sum would). Real-valued sums go through
// FixedPoint (exact, order-free) or sum_in_order (block partials in block
// order). MPI calls come only from the thread that created the communicator.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dgm/error.h"

namespace dgm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Elementwise sums over all ranks, in place on every rank. The caller keeps
  // the totals within int64 (FixedPoint does).
  virtual void sum(int64_t* data, size_t n) = 0;
  // Elementwise maxima. -infinity is neutral; NaN must not be passed.
  virtual void max(double* data, size_t n) = 0;
  // Every rank's bytes, in rank order (mine included).
  virtual std::vector<std::string> all_gather(const std::string& mine) = 0;
  // send[r] goes to rank r (send.size() == size()); returns what each rank sent here.
  virtual std::vector<std::string> all_to_all(const std::vector<std::string>& send) = 0;

  // Called by a rank that failed outside a collective (its error is not
  // known to the others, which may be waiting in one): makes sure the job
  // ends, with `message` reported by rank 0 (empty: rank 0 has the error
  // already). Rank 0 returns (its caller prints the error); the other ranks
  // do not return. No-op with one rank.
  virtual void abandon(const std::string& message) { (void)message; }

  // Bytes this rank has put into collectives so far (the payload: what a
  // reduction or exchange carries, not the MPI library's own traffic), and
  // the number of collectives.
  uint64_t bytes_sent() const { return bytes_; }
  uint64_t collectives() const { return calls_; }

  // ---- built on the collectives above ----

  // Every rank passes its error ("" = none). When any rank has one, every
  // rank throws CollectiveError with the first failing rank's message
  // (prefixed "rank R: " when R > 0), so all stop at the same point.
  void check(const std::string& error);
  // Runs fn on this rank and gathers its result from every rank (in rank
  // order); when fn throws on any rank, every rank throws CollectiveError
  // with the first failing rank's message instead. The way to keep ranks in
  // step around local work that can fail (reading a shard).
  std::vector<std::string> gather_checked(const std::function<std::string()>& fn);
  // True on every rank when `flag` is true on any.
  bool any(bool flag);
  int64_t sum(int64_t v) {
    sum(&v, 1);
    return v;
  }
  double max(double v) {
    max(&v, 1);
    return v;
  }

 protected:
  void count(uint64_t bytes) {
    bytes_ += bytes;
    ++calls_;
  }

 private:
  uint64_t bytes_ = 0, calls_ = 0;
};

// An error that every rank raised at the same collective point (see
// Communicator::check), so no rank is left waiting for another.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// The communicator of an ordinary run: one rank; every collective is a copy.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(int64_t*, size_t) override {}
  void max(double*, size_t) override {}
  std::vector<std::string> all_gather(const std::string& mine) override { return {mine}; }
  std::vector<std::string> all_to_all(const std::vector<std::string>& send) override { return send; }
};

// Whether this dgm was built with MPI (-DDGM_MPI=ON).
bool mpi_built();

// The processes of this run: the MPI world when built with MPI and started by
// mpirun (or another MPI launcher), else a LocalCommunicator. A collective
// that waits longer than timeout_seconds for the other ranks throws an Error
// saying so (a rank died or hangs) instead of waiting for ever. ConfigError
// when started by a launcher with several processes but built without MPI
// (each process would otherwise train alone and overwrite the others' file).
std::unique_ptr<Communicator> world_communicator(double timeout_seconds = 600);

// ---- how data is shared out ----

// Half-open range of global sample indices.
struct Range {
  uint64_t begin = 0, end = 0;
  uint64_t size() const { return end - begin; }
};

// Samples of a dataset of n are grouped in blocks of shard_block(n)
// consecutive samples (a power of two from 16 to 512, about n/64, so that
// even small datasets spread over a few ranks). Ranks hold whole blocks, and
// every P-independent partial result (an EM chunk, a validation sum) is formed
// per block, so results do not depend on the number of ranks.
uint64_t shard_block(uint64_t n);
// The samples rank `rank` of `ranks` holds: blocks [B r / P, B (r+1) / P) of
// the B blocks of n samples. Ranks beyond the number of blocks hold none.
Range shard_range(uint64_t n, int rank, int ranks);
// The rank whose shard_range holds sample i.
int shard_owner(uint64_t n, uint64_t i, int ranks);

// Where this rank's shard of a distributed dataset sits: the dataset's total
// size over all ranks and this shard's first global index (collective).
struct ShardPlace {
  uint64_t total = 0, offset = 0;
};
ShardPlace shard_place(Communicator& comm, uint64_t local_size);

// The sum over all ranks of per-block partials (each rank's blocks in global
// block order), added in that order on every rank: the same double as one
// process adding the same partials in turn. For a few values a block (NLLs,
// counts); large vectors go through FixedPoint and Communicator::sum.
double sum_in_order(Communicator& comm, const std::vector<double>& local_partials);

// Exact, order-independent sums of reals: every term is rounded once to a
// multiple of 2^-bits and the multiples are added as int64, so any grouping
// (threads, ranks, MPI's reduction tree) gives the same total, bit for bit.
// `bits` comes from a bound on the largest |sum| that can occur (the bound
// must be the same on every rank), leaving 2^62 of headroom; the rounding
// error of one term is 2^-(bits+1).
struct FixedPoint {
  int bits = 0;
  double scale = 1, inverse = 1;  // 2^bits, 2^-bits

  // The finest grid on which sums bounded by `bound` (> 0, finite) fit int64.
  static FixedPoint for_bound(double bound);
  int64_t to_fixed(double x) const { return int64_t(std::llrint(x * scale)); }
  double to_real(int64_t q) const { return double(q) * inverse; }
};

}  // namespace dgm
