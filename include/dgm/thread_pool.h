// thread_pool.h — data-parallel loops whose results do not depend on the thread
// count: work is cut into chunks by the caller (a fixed size, never by the
// number of threads), each chunk writes its own accumulator, and the caller
// reduces them in chunk order. A worker's exception is rethrown on the caller.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dgm {

class ThreadPool {
 public:
  // threads <= 0: one per hardware thread. threads == 1 runs inline.
  // IoError when the system cannot start that many threads.
  explicit ThreadPool(int threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(chunk) once for every chunk in [0, num_chunks), spread over the
  // threads (the caller's included), and returns when all are done. Not
  // reentrant: fn must not call run() on the same pool.
  void run(size_t num_chunks, const std::function<void(size_t)>& fn);

 private:
  void worker_loop();
  void drain();
  void stop_workers();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t num_chunks_ = 0, next_ = 0, active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Number of chunks of `grain` items that cover n items.
inline size_t num_chunks(size_t n, size_t grain) { return grain == 0 ? 0 : (n + grain - 1) / grain; }

}  // namespace dgm
