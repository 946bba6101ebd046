// comm.cc — the parts of the communicator layer that do not need MPI: the
// collective error check, the block partition of datasets over ranks, ordered
// sums of block partials, and the fixed-point grid of exact sums. The choice
// between the MPI world and the one-rank communicator is src/mpi/world.cc.
#include "dgm/comm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace dgm {

void Communicator::check(const std::string& error) {
  const std::vector<std::string> all = all_gather(error);
  for (size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) throw CollectiveError(r == 0 ? all[r] : "rank " + std::to_string(r) + ": " + all[r]);
}

std::vector<std::string> Communicator::gather_checked(const std::function<std::string()>& fn) {
  std::string mine;
  try {
    mine = "K" + fn();
  } catch (const CollectiveError&) {
    throw;  // already agreed by every rank
  } catch (const std::bad_alloc&) {
    mine = "Eout of memory";
  } catch (const std::exception& e) {
    mine = std::string("E") + e.what();
  }
  std::vector<std::string> all = all_gather(mine);
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r].empty() || all[r][0] != 'K')
      throw CollectiveError(r == 0 ? all[r].substr(1) : "rank " + std::to_string(r) + ": " + all[r].substr(1));
  for (std::string& s : all) s.erase(0, 1);
  return all;
}

bool Communicator::any(bool flag) { return max(flag ? 1.0 : 0.0) > 0.5; }

uint64_t shard_block(uint64_t n) {
  uint64_t b = 16;
  while (b < 512 && b * 64 < n) b *= 2;
  return b;
}

Range shard_range(uint64_t n, int rank, int ranks) {
  const uint64_t b = shard_block(n);
  const uint64_t blocks = (n + b - 1) / b;
  auto edge = [&](int r) {
    const uint64_t k = blocks * uint64_t(r) / uint64_t(ranks);  // blocks <= 2^59, ranks small
    return std::min(n, k * b);
  };
  return {edge(rank), edge(rank + 1)};
}

int shard_owner(uint64_t n, uint64_t i, int ranks) {
  // The smallest r with i < shard_range(n, r).end; ends grow with r.
  int lo = 0, hi = ranks - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (i < shard_range(n, mid, ranks).end) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

ShardPlace shard_place(Communicator& comm, uint64_t local_size) {
  std::string mine(sizeof local_size, '\0');
  std::memcpy(mine.data(), &local_size, sizeof local_size);
  const std::vector<std::string> all = comm.all_gather(mine);
  ShardPlace p;
  for (size_t r = 0; r < all.size(); ++r) {
    uint64_t v;
    std::memcpy(&v, all[r].data(), sizeof v);
    if (int(r) < comm.rank()) p.offset += v;
    p.total += v;
  }
  return p;
}

double sum_in_order(Communicator& comm, const std::vector<double>& local_partials) {
  std::string mine(local_partials.size() * sizeof(double), '\0');
  if (!mine.empty()) std::memcpy(mine.data(), local_partials.data(), mine.size());
  double total = 0;
  for (const std::string& part : comm.all_gather(mine))
    for (size_t k = 0; k + sizeof(double) <= part.size(); k += sizeof(double)) {
      double v;
      std::memcpy(&v, part.data() + k, sizeof v);
      total += v;
    }
  return total;
}

FixedPoint FixedPoint::for_bound(double bound) {
  if (!(bound > 0) || !std::isfinite(bound)) bound = 1;
  int e;
  std::frexp(bound, &e);  // bound < 2^e
  FixedPoint f;
  f.bits = std::clamp(62 - e, -960, 960);
  f.scale = std::ldexp(1.0, f.bits);
  f.inverse = std::ldexp(1.0, -f.bits);
  return f;
}

}  // namespace dgm
