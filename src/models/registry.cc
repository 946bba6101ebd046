// registry.cc — the one table of model kinds. Adding a model: one source file
// in src/models/, one line here, one configs/<kind>.json, and its tests; the
// contract tests (tests/models/contract_test.cc) then cover it.
#include "dgm/model.h"

namespace dgm {

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
  };
  return kinds;
}

}  // namespace dgm
