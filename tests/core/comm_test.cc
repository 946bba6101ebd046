// comm_test.cc — the communicator layer without MPI: the block partition of
// datasets over ranks, exact fixed-point sums (the same total in any order),
// ordered sums of block partials, the collective error check, and row
// exchange, with ranks as threads (tests/thread_comm.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "dgm/comm.h"
#include "dgm/distributed.h"
#include "io/io_test_util.h"
#include "thread_comm.h"

namespace dgm {
namespace {

TEST(ShardRange, BlocksCoverEveryIndexOnce) {
  for (uint64_t n : {0ull, 1ull, 15ull, 16ull, 17ull, 270ull, 1000ull, 50000ull, 123457ull}) {
    const uint64_t b = shard_block(n);
    EXPECT_GE(b, 16u);
    EXPECT_LE(b, 512u);
    EXPECT_EQ(b & (b - 1), 0u);
    for (int P : {1, 2, 3, 4, 7, 64}) {
      uint64_t next = 0;
      for (int r = 0; r < P; ++r) {
        const Range s = shard_range(n, r, P);
        EXPECT_EQ(s.begin, next) << "n=" << n << " P=" << P << " r=" << r;
        EXPECT_TRUE(s.begin % b == 0 || s.begin == n);
        for (uint64_t i = s.begin; i < s.end; i += std::max<uint64_t>(1, s.size() / 5))
          EXPECT_EQ(shard_owner(n, i, P), r);
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
  }
  // The digits' 270 training samples reach 3 ranks (blocks of 16).
  EXPECT_EQ(shard_range(270, 2, 3).size(), 94u);  // blocks 11..16, the last of 14
  EXPECT_EQ(shard_block(50000), 512u);
}

TEST(FixedPoint, SumIsTheSameInAnyOrder) {
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> terms(10000);
  for (float& t : terms) t = u(gen) * (gen() % 2 ? 1e-6f : 300.0f);
  const FixedPoint fp = FixedPoint::for_bound(300.0 * double(terms.size()));
  auto total = [&](const std::vector<float>& v) {
    int64_t s = 0;
    for (float t : v) s += fp.to_fixed(t);
    return fp.to_real(s);
  };
  const double a = total(terms);
  std::vector<float> shuffled = terms;
  std::shuffle(shuffled.begin(), shuffled.end(), gen);
  EXPECT_EQ(a, total(shuffled));  // bit for bit
  double exact = 0;
  for (float t : terms) exact += double(t);
  EXPECT_NEAR(a, exact, 1e-9 * std::fabs(exact) + 1e-9);
  // The grid leaves headroom: the bound itself converts without overflow.
  EXPECT_LT(std::fabs(300.0 * double(terms.size()) * fp.scale), 0x1p62 + 1);
}

TEST(Collectives, CheckNamesTheFirstFailingRank) {
  for (int P : {1, 2, 3}) {
    test::run_ranks(P, [&](Communicator& comm) {
      EXPECT_NO_THROW(comm.check(""));
      const std::string mine = comm.rank() >= 1 ? "bad shard " + std::to_string(comm.rank()) : "";
      if (P == 1) return;
      try {
        comm.check(mine);
        ADD_FAILURE() << "no error on rank " << comm.rank();
      } catch (const CollectiveError& e) {
        EXPECT_EQ(std::string(e.what()), "rank 1: bad shard 1");
      }
      // The ranks are still in step afterwards.
      EXPECT_EQ(comm.sum(int64_t(comm.rank() + 1)), int64_t(P * (P + 1) / 2));
      EXPECT_TRUE(comm.any(comm.rank() == P - 1));
      EXPECT_FALSE(comm.any(false));
      EXPECT_THROW(comm.gather_checked([&]() -> std::string {
        if (comm.rank() == P - 1) throw DataError("x");
        return "ok";
      }),
                   CollectiveError);
    });
  }
}

TEST(Collectives, SumInOrderIsTheOneProcessSum) {
  // Partials of very different sizes: the order of addition matters in double.
  std::vector<double> parts;
  for (int i = 0; i < 40; ++i) parts.push_back(i % 3 ? 1e16 / (i + 1) : 1.0 / (i + 1));
  double serial = 0;
  for (double p : parts) serial += p;
  for (int P : {1, 2, 3, 4}) {
    test::run_ranks(P, [&](Communicator& comm) {
      const Range mine = {parts.size() * size_t(comm.rank()) / size_t(P), parts.size() * size_t(comm.rank() + 1) / size_t(P)};
      std::vector<double> local(parts.begin() + long(mine.begin), parts.begin() + long(mine.end));
      EXPECT_EQ(sum_in_order(comm, local), serial);
      const ShardPlace place = shard_place(comm, mine.size());
      EXPECT_EQ(place.offset, mine.begin);
      EXPECT_EQ(place.total, parts.size());
    });
  }
}

TEST(Collectives, ExchangeRowsAndFingerprint) {
  const Space space = Space::tensor({3}, 300, 4);  // two bytes a value
  const Dataset all = test::random_dataset(space, 101, 9);
  for (int P : {1, 2, 3}) {
    test::run_ranks(P, [&](Communicator& comm) {
      // Each rank holds a strided part; rows move to their shard owners.
      std::vector<size_t> rows;
      for (size_t i = size_t(comm.rank()); i < all.size(); i += size_t(P)) rows.push_back(i);
      const Dataset mine = all.subset(rows);
      std::vector<int> dest;
      std::vector<uint64_t> key;
      for (size_t i : rows) {
        dest.push_back(shard_owner(all.size(), i, P));
        key.push_back(i);
      }
      const ReceivedRows got = exchange_rows(comm, mine, dest, key);
      const Range want = shard_range(all.size(), comm.rank(), P);
      test::expect_same(got.rows, all.slice(size_t(want.begin), size_t(want.end)));
      EXPECT_EQ(distributed_fingerprint(comm, got.rows), all.fingerprint());
    });
  }
}

}  // namespace
}  // namespace dgm
