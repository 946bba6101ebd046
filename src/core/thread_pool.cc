// thread_pool.cc — a fixed set of workers pulling chunk indices from a counter.
#include "dgm/thread_pool.h"

#include "dgm/error.h"

namespace dgm {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  } catch (const std::exception& e) {  // std::system_error (EAGAIN), or bad_alloc
    // Out of threads or memory for their stacks (ulimit): the workers already
    // started are stopped and joined (else destroying the condition variable
    // they wait on would block forever), and the caller gets an error.
    const size_t started = workers_.size() + 1;
    stop_workers();
    throw IoError("cannot start " + std::to_string(threads) + " threads (" + std::to_string(started) +
                  " started): " + e.what() + "; use fewer --threads");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::drain() {
  // Called with mu_ held; takes chunks until none remain.
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  while (next_ < num_chunks_) {
    size_t chunk = next_++;
    ++active_;
    const auto* fn = fn_;
    lock.unlock();
    try {
      (*fn)(chunk);
    } catch (...) {
      lock.lock();
      if (!error_) error_ = std::current_exception();
      next_ = num_chunks_;  // stop handing out work
      lock.unlock();
    }
    lock.lock();
    --active_;
  }
  if (active_ == 0) done_cv_.notify_all();
  lock.release();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || (generation_ != seen && next_ < num_chunks_); });
    if (stop_) return;
    seen = generation_;
    lock.release();
    drain();
    lock = std::unique_lock<std::mutex>(mu_, std::adopt_lock);
  }
}

void ThreadPool::run(size_t num_chunks, const std::function<void(size_t)>& fn) {
  if (num_chunks == 0) return;
  if (workers_.empty() || num_chunks == 1) {
    for (size_t c = 0; c < num_chunks; ++c) fn(c);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  fn_ = &fn;
  num_chunks_ = num_chunks;
  next_ = 0;
  error_ = nullptr;
  ++generation_;
  work_cv_.notify_all();
  lock.release();
  drain();
  lock = std::unique_lock<std::mutex>(mu_, std::adopt_lock);
  done_cv_.wait(lock, [&] { return next_ >= num_chunks_ && active_ == 0; });
  fn_ = nullptr;
  num_chunks_ = 0;
  std::exception_ptr err = error_;
  error_ = nullptr;
  lock.unlock();
  if (err) std::rethrow_exception(err);
}

}  // namespace dgm
