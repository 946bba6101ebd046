// independent.h — the independent (product of categoricals) model:
// P(x | y) = prod_d Cat(x_d; theta_{y,d}), fitted in closed form (see src/models/independent.cc).
#pragma once

#include <memory>

#include "dgm/model.h"

namespace dgm {

// Registry factory: model keys "alpha"; no training keys.
std::unique_ptr<Model> create_independent_model(const Space& space, ConfigSection& model, ConfigSection& train);

}  // namespace dgm
