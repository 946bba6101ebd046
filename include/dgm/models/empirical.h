// empirical.h — the training set's empirical distribution as a model,
// optionally smoothed over all of X (see src/models/empirical.cc).
#pragma once

#include <memory>

#include "dgm/model.h"

namespace dgm {

// Registry factory: model key "smoothing"; no training keys.
std::unique_ptr<Model> create_empirical_model(const Space& space, ConfigSection& model, ConfigSection& train);

}  // namespace dgm
