// registry.cc — the one table of model kinds. Adding a model: one source file
// in src/models/, one line here, one configs/<kind>.json, and its tests; the
// contract tests (tests/models/contract_test.cc) then cover it.
#include "dgm/model.h"

namespace dgm {

std::unique_ptr<Model> make_empirical(const Space&, ConfigSection&, ConfigSection&);

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"empirical", "the training set's empirical distribution, optionally smoothed over all of X", make_empirical,
       R"({"model": {"type": "empirical", "smoothing": 0.5}})"},
  };
  return kinds;
}

}  // namespace dgm
