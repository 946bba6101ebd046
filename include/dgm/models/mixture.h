// mixture.h — a mixture of K products of categoricals trained by EM
// (Dempster, Laird & Rubin 1977), class-conditional on labeled spaces:
//   P(x | y) = sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d),  P(y) from label counts.
// Symbols as in categorical_mixture.h (G groups, K components, D positions, L levels).
#pragma once

#include <memory>

#include "dgm/models/categorical_mixture.h"

namespace dgm {

class MixtureModel : public CategoricalMixtureBase {
 public:
  struct Options {
    int64_t components = 10;    // K (model.components)
    double alpha = 1.0;         // Dirichlet pseudo-count of the MAP M-step (model.alpha), > 0
    bool float32 = true;        // E-step arithmetic (model.precision "float32" | "float64")
    int64_t max_iterations = 100;  // EM iterations per restart (train.max_iterations)
    int64_t restarts = 1;          // independent initialisations (train.restarts)
    double tolerance = 1e-6;       // stop when |dLL| <= tolerance |LL| (train.tolerance)
    int64_t patience = 10;         // iterations without a better validation LL (train.patience)
  };

  MixtureModel(const Space& space, const Options& options);

  std::string kind() const override { return "mixture"; }
  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override;
  json describe() const override;
  // EM's tables (five copies of G K D L doubles), the E-step's copy and its
  // per-task (chunk, K) blocks.
  uint64_t memory_bytes() const override;

  // log p(parameters) of the symmetric Dirichlet(alpha + 1) prior, up to its
  // constant: alpha * (sum log pi + sum log theta). Each EM iteration never
  // decreases sum_n log P(x_n | y_n) + log_prior() (the MAP objective).
  double log_prior() const;
  const Options& options() const { return opt_; }

 private:
  Options opt_;
};

// Registry factory: model keys "components", "alpha", "precision"; train keys
// "max_iterations", "restarts", "tolerance", "patience".
std::unique_ptr<Model> create_mixture_model(const Space& space, ConfigSection& model, ConfigSection& train);

}  // namespace dgm
