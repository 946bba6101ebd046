// params.cc — flat parameter buffer with named blocks, and their model-file arrays.
#include "dgm/train/params.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "dgm/dataset.h"
#include "dgm/error.h"
#include "dgm/model_file.h"

namespace dgm {

void* allocate_aligned(size_t bytes) {
  // The training loop streams several parameter-sized buffers at once (the
  // parameters, Adam's moments, the chunk gradients, a model's transposed
  // weights): on 4 KB pages their pages outnumber the TLB's entries.
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  bytes = bytes ? (bytes + align - 1) / align * align : align;
  void* p = std::aligned_alloc(align, bytes);
  if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  if (align == kHuge) madvise(p, bytes, MADV_HUGEPAGE);  // advice: ignored where not granted
#endif
  return p;
}

void ParamStore::allocate() {
  // Values, the best values kept for early stopping, gradients (at least one
  // chunk buffer besides the sum) and Adam's two moments: six copies.
  const double bytes = double(total_) * sizeof(float) * 6;
  if (bytes > double(memory_budget()))
    throw ConfigError("model: " + std::to_string(total_) + " parameters with gradients and optimiser state " +
                      over_budget(uint64_t(bytes), memory_budget()) + "; use fewer hidden units or channels");
  values_.assign(total_, 0.0f);
}

size_t ParamStore::add(const std::string& name, std::vector<uint64_t> shape) {
  uint64_t n = 1;
  for (auto e : shape) n *= e;
  Block b;
  b.name = name;
  b.shape = std::move(shape);
  b.offset = total_;
  b.size = size_t(n);
  total_ += b.size;
  blocks_.push_back(b);
  return b.offset;
}

void ParamStore::save(ModelWriter& w, const std::string& prefix) const {
  for (const auto& b : blocks_) w.add(prefix + b.name, values_.data() + b.offset, b.shape);
}

void ParamStore::load(const ModelReader& r, const std::string& prefix) {
  if (values_.size() != total_) values_.assign(total_, 0.0f);
  for (const auto& b : blocks_) r.read(prefix + b.name, values_.data() + b.offset, b.shape);
}

}  // namespace dgm
