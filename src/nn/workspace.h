// workspace.h — scratch memory that hot loops reuse instead of allocating: a
// bump arena per thread. A Frame marks the arena when it opens and gives back
// everything taken after the mark when it closes; the memory itself stays
// mapped, so a call that repeats (a minibatch, a scoring chunk, a sampling
// step) touches pages that are already there (no page faults, no malloc).
// When one call needed more than the arena held, its blocks are merged into
// one of the combined size as the outermost Frame closes, so the next call
// fits in one block.
//
//   nn::Workspace& ws = nn::thread_workspace();
//   nn::Workspace::Frame frame(ws);
//   float* col = ws.take<float>(rows * cols);   // 64-byte aligned, not zeroed
//
// Private to the library (src/, not include/dgm/): shared by the neural
// models (pixelcnn, made, nade, transformer, wavenet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace dgm::nn {

class Workspace {
 public:
  Workspace() = default;
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // n values of T, 64-byte aligned, uninitialised, valid until the innermost
  // open Frame closes. Only inside a Frame.
  template <typename T>
  T* take(size_t n) {
    return static_cast<T*>(take_bytes(n * sizeof(T)));
  }
  // The same, zeroed.
  template <typename T>
  T* take_zero(size_t n) {
    T* p = take<T>(n);
    std::memset(static_cast<void*>(p), 0, n * sizeof(T));
    return p;
  }

  class Frame {
   public:
    explicit Frame(Workspace& ws) : ws_(ws), block_(ws.block_), used_(ws.used_) { ++ws.depth_; }
    ~Frame() { ws_.release(block_, used_); }
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

   private:
    Workspace& ws_;
    size_t block_, used_;
  };

  // Bytes held (for tests and memory reports).
  size_t capacity() const;

 private:
  struct Block {
    char* data = nullptr;
    size_t size = 0;
  };
  void* take_bytes(size_t bytes);
  void release(size_t block, size_t used);

  std::vector<Block> blocks_;
  size_t block_ = 0;  // the block being filled
  size_t used_ = 0;   // bytes used in it
  int depth_ = 0;     // open frames
};

// The calling thread's workspace (the thread pool's workers are long-lived,
// so theirs persist across calls).
Workspace& thread_workspace();

}  // namespace dgm::nn
