// neural_configs_test.cc — the shipped NADE/MADE/FVSBN/transformer configs parse: space,
// model and train sections are accepted (unknown keys would be errors) and
// give models of the expected kind and size.
#include <gtest/gtest.h>

#include "dgm/model.h"

namespace dgm {
namespace {

TEST(NeuralConfigs, ShippedConfigsCreateTheirModels) {
  const struct {
    const char* file;
    const char* kind;
    int64_t parameters;
  } cases[] = {
      // NADE-500 on 784 binary pixels with 10 labels: W, c, V, b, U, Q.
      {"configs/fmnist-nade.json", "nade", 784 * 500 + 500 + 784 * 500 + 784 + 10 * 500 + 10 * 784},
      // MADE 784-500-784 with labels into both layers.
      {"configs/fmnist-made.json", "made", 500 * 784 + 500 + 500 * 10 + 784 * 500 + 784 + 784 * 10},
      {"configs/fmnist-fvsbn.json", "fvsbn", 784 * 784 + 784 + 784 * 10},
      {"configs/digits-nade.json", "nade", 25 * 50 + 50 + 25 * 50 + 25},
      // Transformer, 4 layers of width 128 (MLP 512), tied head: token (2 + 1 + 10 rows) and 784
      // position embeddings, per layer 2 LayerNorms, qkv, proj, fc, out; the final LayerNorm.
      {"configs/fmnist-transformer.json", "transformer",
       13 * 128 + 784 * 128 + 4 * (4 * 128 + 128 * 384 + 384 + 128 * 128 + 128 + 128 * 512 + 512 + 512 * 128 + 128) +
           2 * 128},
  };
  for (const auto& c : cases) {
    const json cfg = load_config_file(std::string(DGM_SOURCE_DIR) + "/" + c.file);
    const Space space = Space::from_json(cfg.at("space"));
    auto m = create_model(space, cfg.at("model"), cfg.at("train"));
    EXPECT_EQ(m->kind(), c.kind) << c.file;
    EXPECT_EQ(m->describe().at("parameters").get<int64_t>(), c.parameters) << c.file;
  }
}

}  // namespace
}  // namespace dgm
