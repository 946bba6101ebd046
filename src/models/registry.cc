// registry.cc — the one table of model kinds. Adding a model: one source file
// in src/models/, one line here, one configs/<kind>.json, and its tests; the
// contract tests (tests/models/contract_test.cc) then cover it.
#include "dgm/model.h"
#include "dgm/models/ngram.h"

namespace dgm {

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"ngram", "n-gram language model, interpolated modified Kneser-Ney (KenLM-compatible), ARPA in and out",
       &NgramModel::create, R"({"model": {"type": "ngram", "order": 3}, "train": {}})"},
  };
  return kinds;
}

}  // namespace dgm
