// thread_comm.h — P ranks as P threads of one test process, so that the
// distributed code paths (sharded reading, EM and gradient sums, n-gram count
// merges) run under plain GoogleTest, sanitizers included, without mpirun.
// Collectives meet at a barrier on a shared board; a rank that waits longer
// than 60 s fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dgm/comm.h"

namespace dgm::test {

class ThreadBoard {
 public:
  explicit ThreadBoard(int ranks) : ranks_(ranks), slots_(size_t(ranks)), pairs_(size_t(ranks * ranks)) {}
  int ranks() const { return ranks_; }
  void barrier() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = generation_;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return generation_ != gen; }))
      throw std::runtime_error("thread_comm: a rank did not reach the collective within 60 s");
  }
  std::vector<std::string>& slots() { return slots_; }
  std::vector<std::string>& pairs() { return pairs_; }

 private:
  int ranks_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<std::string> slots_, pairs_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadBoard& board, int rank) : board_(board), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return board_.ranks(); }

  void sum(int64_t* data, size_t n) override {
    reduce(data, n, [](int64_t a, int64_t b) { return a + b; });
  }
  void max(double* data, size_t n) override {
    reduce(data, n, [](double a, double b) { return a > b ? a : b; });
  }
  std::vector<std::string> all_gather(const std::string& mine) override {
    board_.slots()[size_t(rank_)] = mine;
    board_.barrier();
    std::vector<std::string> out = board_.slots();
    board_.barrier();
    return out;
  }
  std::vector<std::string> all_to_all(const std::vector<std::string>& send) override {
    const int P = size();
    for (int r = 0; r < P; ++r) board_.pairs()[size_t(rank_ * P + r)] = send[size_t(r)];
    board_.barrier();
    std::vector<std::string> out(static_cast<size_t>(P));
    for (int r = 0; r < P; ++r) out[size_t(r)] = board_.pairs()[size_t(r * P + rank_)];
    board_.barrier();
    return out;
  }

 private:
  template <typename T, typename Op>
  void reduce(T* data, size_t n, Op op) {
    std::string mine(n * sizeof(T), '\0');
    if (n) std::memcpy(mine.data(), data, n * sizeof(T));
    const std::vector<std::string> all = all_gather(mine);
    // Ranks combined in reverse order: an exact reduction must not care.
    for (size_t i = 0; i < n; ++i) {
      T acc;
      std::memcpy(&acc, all.back().data() + i * sizeof(T), sizeof(T));
      for (size_t r = all.size() - 1; r-- > 0;) {
        T v;
        std::memcpy(&v, all[r].data() + i * sizeof(T), sizeof(T));
        acc = op(acc, v);
      }
      data[i] = acc;
    }
  }

  ThreadBoard& board_;
  int rank_;
};

// Runs fn(comm) for ranks 0..P-1 on P threads; rethrows the lowest rank's
// exception, if any.
inline void run_ranks(int P, const std::function<void(Communicator&)>& fn) {
  ThreadBoard board(P);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(P));
  std::vector<std::thread> threads;
  for (int r = 0; r < P; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(board, r);
      try {
        fn(comm);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace dgm::test
