// model.h — the Model interface and the registry of model kinds.
//
//   dgm::Space space = dgm::Space::tensor({5, 5}, 2);
//   auto model = dgm::create_model(space, config["model"], config["train"]);
//   dgm::ThreadPool pool(2); dgm::Rng rng(1);
//   model->fit(train, &validation, {&pool, &rng});
//   std::vector<double> lp = model->log_prob(test, pool);  // nats, one per sample
//   dgm::Dataset s = model->sample(10, rng);
//
// Scoring (log_prob, sample, complete, save, describe) is const and safe for
// concurrent readers.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "dgm/comm.h"
#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/rng.h"
#include "dgm/space.h"
#include "dgm/thread_pool.h"

namespace dgm {

class ModelWriter;
class ModelReader;

// One step of training, as reported to the monitor (an EM iteration or an
// epoch). NLLs are nats per sample; NaN when not computed.
struct TrainProgress {
  std::string unit = "iteration";  // "iteration" or "epoch"
  int64_t step = 0;                // 1-based
  int64_t total = 0;               // the maximum number of steps
  double train_nll = std::numeric_limits<double>::quiet_NaN();
  double valid_nll = std::numeric_limits<double>::quiet_NaN();
  bool best = false;               // this step's parameters are the best so far
};

// Receives training progress; implemented by the CLI (progress bar, JSONL log)
// and by tests. All calls come from the thread that called fit().
class TrainMonitor {
 public:
  virtual ~TrainMonitor() = default;
  virtual void on_step(const TrainProgress& p) = 0;
  // Within a step: `done` of `total` units of work (e.g. minibatches).
  virtual void on_work(int64_t done, int64_t total) { (void)done; (void)total; }
  // A one-line note for the user (fallbacks, warnings, restarts).
  virtual void message(const std::string& text) = 0;
};

struct FitContext {
  ThreadPool* pool = nullptr;               // never null
  Rng* rng = nullptr;                       // never null; seeded from train.seed
  TrainMonitor* monitor = nullptr;          // may be null
  const std::atomic<bool>* stop = nullptr;  // may be null; when set, stop at the next step and keep the best
  // The ranks of a data-parallel run (comm.h), null for one process. Then
  // `train` and `validation` are this rank's shards (shard_range of their
  // sizes), every rank calls fit() with the same config and seed, and every
  // rank ends with the same parameters: the ones one process would fit.
  Communicator* comm = nullptr;
};

struct SampleOptions {
  int32_t label = -1;        // -1: draw the label from the model's label distribution
  double temperature = 1.0;  // > 0; 1 samples the model itself
};

class Model {
 public:
  virtual ~Model() = default;

  // The registry name, e.g. "mixture".
  virtual std::string kind() const = 0;
  const Space& space() const { return space_; }

  // Learns the parameters. `validation` may be null or empty (no early stopping).
  // Throws DataError when the data does not fit the model.
  virtual void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) = 0;

  // out[i] = log P(x_i) in nats. For a sample with a known label (>= 0) on a
  // labeled space this is log P(x_i | y_i); with label -1 it is the marginal
  // log sum_y P(y) P(x_i | y). -infinity for a point of probability zero.
  virtual void log_prob(const DataView& x, double* out, ThreadPool& pool) const = 0;
  std::vector<double> log_prob(const DataView& x, ThreadPool& pool) const {
    std::vector<double> out(x.size());
    log_prob(x, out.data(), pool);
    return out;
  }

  // n samples in this model's space. With labels, each sample carries the
  // label it was drawn for.
  virtual Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const = 0;

  // Fills in positions of `partial` whose known flag (N, D) is 0, given the
  // others. Models that cannot throw DataError saying what they can do.
  virtual Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                           const SampleOptions& opts = {}) const;

  // Parameters as typed arrays; load() reads them back into a model created
  // from the same config. load() throws FormatError on a missing or misshapen array.
  virtual void save(ModelWriter& w) const = 0;
  virtual void load(const ModelReader& r) = 0;

  // Hyperparameters and sizes as JSON (e.g. {"components": 10, "parameters": 260}).
  virtual json describe() const = 0;

 protected:
  explicit Model(Space space) : space_(std::move(space)) {}
  Space space_;
};

// One entry of the registry: a kind, one line for `dgm --help`, and a factory
// that reads the model's hyperparameters from the "model" section and its
// training options from the "train" section (unknown keys are errors).
struct ModelKind {
  const char* name;
  const char* summary;
  std::unique_ptr<Model> (*create)(const Space& space, ConfigSection& model, ConfigSection& train);
  // A small, fast {"model": {...}, "train": {...}} config on which the
  // contract tests (tests/models/contract_test.cc) fit this kind to tiny
  // enumerable spaces; every registered kind is tested through it.
  const char* test_config;
};

// The explicit table in src/models/registry.cc.
const std::vector<ModelKind>& model_kinds();

// Creates an unfitted model from config sections (model.type picks the kind).
// Fills *effective_model / *effective_train with every key used, defaults
// included, when non-null. ConfigError on an unknown type or key.
std::unique_ptr<Model> create_model(const Space& space, const json& model_cfg, const json& train_cfg,
                                    json* effective_model = nullptr, json* effective_train = nullptr);

}  // namespace dgm
