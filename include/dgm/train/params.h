// params.h — a model's trainable parameters as one flat float32 buffer cut into
// named blocks (so the optimiser, gradient buffers, best-parameter copies and
// the model file all see one array), plus save/load of the blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dgm {

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
  void allocate() { values_.assign(total_, 0.0f); }

  size_t size() const { return total_; }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  float* at(size_t offset) { return values_.data() + offset; }
  const float* at(size_t offset) const { return values_.data() + offset; }
  const std::vector<Block>& blocks() const { return blocks_; }
  std::vector<float>& values() { return values_; }
  const std::vector<float>& values() const { return values_; }

  // One array a block, named "<prefix><block name>". load() checks shapes.
  void save(ModelWriter& w, const std::string& prefix = "param.") const;
  void load(const ModelReader& r, const std::string& prefix = "param.");

 private:
  std::vector<Block> blocks_;
  std::vector<float> values_;  // (total_)
  size_t total_ = 0;
};

}  // namespace dgm
