// workspace.cc — the per-thread bump arena of workspace.h.
#include "nn/workspace.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace dgm::nn {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinBlock = size_t(1) << 20;

char* allocate_block(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<char*>(p);
}

}  // namespace

Workspace::~Workspace() {
  for (Block& b : blocks_) std::free(b.data);
}

size_t Workspace::capacity() const {
  size_t s = 0;
  for (const Block& b : blocks_) s += b.size;
  return s;
}

void* Workspace::take_bytes(size_t bytes) {
  if (depth_ == 0) throw std::logic_error("nn::Workspace::take outside a Frame");
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (bytes == 0) bytes = kAlign;
  while (block_ < blocks_.size()) {
    Block& b = blocks_[block_];
    if (b.size - used_ >= bytes) {
      void* p = b.data + used_;
      used_ += bytes;
      return p;
    }
    if (block_ + 1 == blocks_.size()) break;
    ++block_;
    used_ = 0;
  }
  // A new block, at least as large as everything held so far (geometric growth).
  size_t size = std::max(std::max(kMinBlock, bytes), capacity());
  size = (size + kAlign - 1) / kAlign * kAlign;
  blocks_.push_back(Block{allocate_block(size), size});
  block_ = blocks_.size() - 1;
  used_ = bytes;
  return blocks_.back().data;
}

void Workspace::release(size_t block, size_t used) {
  --depth_;
  block_ = block;
  used_ = used;
  if (depth_ == 0 && blocks_.size() > 1) {
    // One block of the combined size serves the next call of this shape.
    const size_t total = capacity();
    for (Block& b : blocks_) std::free(b.data);
    blocks_.clear();
    blocks_.push_back(Block{allocate_block(total), total});
    block_ = 0;
    used_ = 0;
  }
}

Workspace& thread_workspace() {
  thread_local Workspace ws;
  return ws;
}

}  // namespace dgm::nn
