// thread_pool_test.cc — every chunk runs once; exceptions reach the caller.
#include "dgm/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace dgm {
namespace {

TEST(ThreadPool, RunsEveryChunkOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::atomic<int>> hits(257);
      pool.run(hits.size(), [&](size_t c) { hits[c]++; });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, RethrowsWorkerException) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.run(100, [](size_t c) { if (c == 57) throw std::runtime_error("boom"); }), std::runtime_error);
  std::atomic<int> n{0};
  pool.run(10, [&](size_t) { n++; });  // still usable
  EXPECT_EQ(n.load(), 10);
}

}  // namespace
}  // namespace dgm
