// params.h — a model's trainable parameters as one flat float32 buffer cut into
// named blocks (so the optimiser, gradient buffers, best-parameter copies and
// the model file all see one array), plus save/load of the blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace dgm {

// At least 64-byte aligned storage of `bytes` (std::bad_alloc when there is
// none); buffers of 2 MB and more are 2 MB aligned, on transparent huge pages
// where the system grants them (params.cc). Free with std::free.
void* allocate_aligned(size_t bytes);

// Allocates on 64-byte boundaries. Vectorised kernels (Eigen) peel a scalar
// head up to the first aligned element, and scalar and vector rounding differ
// (FMA); with every buffer aligned the same way, results are bit-identical
// whichever buffer or thread a chunk gets.
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(allocate_aligned(n * sizeof(T))); }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <typename U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
using FloatBuffer = std::vector<float, Aligned64<float>>;

class ModelWriter;
class ModelReader;

class ParamStore {
 public:
  struct Block {
    std::string name;
    std::vector<uint64_t> shape;
    size_t offset = 0, size = 0;  // into the flat buffer
  };

  // Declares a block (all before the first data() call); returns its offset.
  size_t add(const std::string& name, std::vector<uint64_t> shape);
  // Allocates (zeroed) the flat buffer once every block is declared.
  // ConfigError, before allocating, when the parameters with their gradients
  // and optimiser state (6 copies) would not fit in memory_budget().
  void allocate();

  size_t size() const { return total_; }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  float* at(size_t offset) { return values_.data() + offset; }
  const float* at(size_t offset) const { return values_.data() + offset; }
  const std::vector<Block>& blocks() const { return blocks_; }
  FloatBuffer& values() { return values_; }
  const FloatBuffer& values() const { return values_; }

  // One array a block, named "<prefix><block name>". load() checks shapes.
  void save(ModelWriter& w, const std::string& prefix = "param.") const;
  void load(const ModelReader& r, const std::string& prefix = "param.");

 private:
  std::vector<Block> blocks_;
  FloatBuffer values_;  // (total_)
  size_t total_ = 0;
};

}  // namespace dgm
