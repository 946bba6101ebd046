// registry.cc — the one table of model kinds. Adding a model: one source file
// in src/models/, one line here, one configs/<kind>.json, and its tests; the
// contract tests (tests/models/contract_test.cc) then cover it.
#include "dgm/model.h"
#include "dgm/models/autoregressive.h"

namespace dgm {

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"fvsbn", "fully visible sigmoid belief net: each position a logistic/softmax regression on earlier ones",
       create_fvsbn, R"({"model": {"type": "fvsbn"}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
      {"nade", "NADE (Larochelle & Murray 2011): autoregressive net with one shared hidden layer",
       create_nade, R"({"model": {"type": "nade", "hidden": 6}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
      {"made", "MADE (Germain et al. 2015): masked autoencoder, natural or random orderings, mask ensembles",
       create_made,
       R"({"model": {"type": "made", "hidden": [6, 5], "ordering": "random", "masks": 2, "ensemble": 2}, "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.05}})"},
  };
  return kinds;
}

}  // namespace dgm
