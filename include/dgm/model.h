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
#include <iosfwd>
#include <limits>
#include <map>
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

class Codec;
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
  double learning_rate = std::numeric_limits<double>::quiet_NaN();  // of this step; NaN without one (EM)
  int64_t restart = 0;             // 1-based restart of an EM run with several, else 0
  bool best = false;               // this step's parameters are the best so far
};

// The training record a model file keeps (`dgm info` prints it): the unit,
// the steps run and their maximum, the best step, and a column per quantity
// of the steps in `history` (train and validation NLL in nats per sample, the
// learning rate, the EM restart; a column only where some step has it; null
// for a NaN). `start` is what on_start gave, used before a step has ended;
// `dims` > 0 is recorded for bits per dimension.
json training_record(const std::vector<TrainProgress>& history, const TrainProgress& start, int64_t dims);

// Receives training progress; implemented by the CLI (progress bar, JSONL log)
// and by tests. All calls come from the thread that called fit().
class TrainMonitor {
 public:
  virtual ~TrainMonitor() = default;
  virtual void on_step(const TrainProgress& p) = 0;
  // Before the first step (of this fit, resumed or not): the unit, the
  // maximum number of steps and, in `step`, the steps already done.
  virtual void on_start(const TrainProgress& p) { (void)p; }
  // Within a step: `done` of `total` units of work (e.g. minibatches).
  virtual void on_work(int64_t done, int64_t total) { (void)done; (void)total; }
  // A one-line note for the user (fallbacks, warnings, restarts).
  virtual void message(const std::string& text) = 0;
};

// An unfinished fit() as its training loop left it: everything needed to
// continue exactly where it stopped, so that a resumed fit ends in the same
// parameters, bit for bit, as one that never stopped (parameters, optimiser
// state, RNG state, position in the data order, best-so-far parameters,
// early-stopping counters). The loop that wrote it names itself in `loop` and
// is the only reader of the fields; everyone else stores it and hands it back
// unchanged (model_file.h: add_train_state / read_train_state).
struct TrainState {
  std::string loop;                                  // the writer, e.g. "minibatch" or "em"
  int64_t steps_done = 0;                            // epochs or EM iterations finished (for messages)
  std::string position;                              // where it stands, for messages ("epoch 3, minibatch 5 of 40")
  json counters = json::object();                    // integers and flags, by name
  std::map<std::string, std::vector<double>> f64;    // exact doubles (sums, scores; infinities allowed)
  std::map<std::string, std::vector<float>> f32;     // float buffers (parameters, optimiser moments)
  std::map<std::string, std::vector<uint64_t>> u64;  // RNG states, data order
};

// Saves checkpoints of a fit(): asked at every point the loop can resume from,
// it says when one is due and stores it (the CLI writes <output>.partial.dgm).
// All calls come from the thread that called fit().
class Checkpointer {
 public:
  virtual ~Checkpointer() = default;
  // Asked between minibatches (`step_end` false) and at the end of each epoch
  // or EM iteration (`step_end` true), with the number of steps finished.
  virtual bool due(int64_t steps_done, bool step_end) = 0;
  // Stores `state`. During the call the model holds what fit() would leave if
  // it stopped here (its best parameters so far), so Model::save() writes a
  // usable model beside the state.
  virtual void save(const TrainState& state) = 0;
};

struct FitContext {
  ThreadPool* pool = nullptr;               // never null
  Rng* rng = nullptr;                       // never null; seeded from train.seed
  TrainMonitor* monitor = nullptr;          // may be null
  // May be null. When set, fit() stops at the next point it can resume from,
  // saves a checkpoint there (when `checkpoint` is set) and keeps the best
  // parameters so far.
  const std::atomic<bool>* stop = nullptr;
  Checkpointer* checkpoint = nullptr;       // may be null: no checkpoints
  // May be null. Else the state a checkpoint of an identical fit() (same
  // model config, data and seed) saved: fit() continues from it instead of
  // starting over. Models whose fit() has no loop to resume ignore it.
  const TrainState* resume = nullptr;
  // The ranks of a data-parallel run (comm.h), null for one process. Then
  // `train` and `validation` are this rank's shards (shard_range of their
  // sizes), every rank calls fit() with the same config and seed, and every
  // rank ends with the same parameters: the ones one process would fit.
  // Only rank 0 is given a checkpoint (resume state goes to every rank).
  Communicator* comm = nullptr;
};

struct SampleOptions {
  int32_t label = -1;          // -1: draw the label from the model's label distribution
  double temperature = 1.0;    // > 0; 1 samples the model itself
  ThreadPool* pool = nullptr;  // workers for sample() and complete(); null: the calling thread.
                               // The samples never depend on the pool's size.
};

class Model;

// Seeded samples as every front end draws them (dgm sample -n N -s SEED,
// dgm eval's samples, Python's model.sample): chunk k of kSeedChunk samples
// from Rng(seed, k), so that a seed's first n samples are the same for any
// larger n, and for any number of threads.
constexpr size_t kSeedChunk = 4096;
Dataset draw_samples(const Model& model, size_t n, uint64_t seed, const SampleOptions& so);

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
  // others. On a variable-length space `known` is empty and every row of
  // `partial` is a known prefix that the model continues (to its end marker
  // or the maximum length), as `dgm sample --prompt` does for text. Models
  // that cannot throw DataError saying what they can do.
  virtual Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                           const SampleOptions& opts = {}) const;

  // Optional capability: the per-position conditionals of an autoregressive
  // factorisation in raster order, log P(x_t | x_<t [, y]) in nats, whose sum
  // over a row is log_prob of that row. Row i of `out` starts at i * stride,
  // stride = D + 1 on a variable-length space (the end marker's term at index
  // length(i)) and D otherwise. Used for per-token figures (text perplexity
  // without OOVs, per-frame audio scores). The default has none.
  virtual bool has_position_log_probs() const { return false; }
  virtual void position_log_probs(const DataView& x, double* out, ThreadPool& pool) const;

  // Parameters as typed arrays; load() reads them back into a model created
  // from the same config. load() throws FormatError on a missing or misshapen array.
  virtual void save(ModelWriter& w) const = 0;
  virtual void load(const ModelReader& r) = 0;

  // Hyperparameters and sizes as JSON (e.g. {"components": 10, "parameters": 260}).
  virtual json describe() const = 0;

  // The memory, in bytes, that holding and training this model needs, from
  // its hyperparameters and space alone: parameters, their working copies,
  // optimiser state and statistics (not the training data, whose readers
  // check it). create_model refuses a configuration past memory_budget()
  // before fit() allocates it (and so does loading one). The default counts
  // describe()'s "parameters" as doubles with one working copy; models whose
  // training needs more say so.
  virtual uint64_t memory_bytes() const;

  // Optional capability of labeled models: log P(y) for every label y, the
  // prior that marginalises log P(x) = log sum_y P(y) P(x | y) and gives the
  // joint log P(x, y) = log P(y) + log P(x | y). The default has none.
  virtual std::vector<double> label_log_prior() const;

  // Optional capability: formats the model can be exported to (e.g. "arpa")
  // and the export itself. The default has none.
  virtual std::vector<std::string> export_formats() const { return {}; }
  virtual void export_to(const std::string& format, std::ostream& out) const;

  // The codec of the model's outside data (codec.h), or null for plain
  // tensors. Models never use it: it travels with them like the space, so
  // that every front end reads and writes the data the model was trained on.
  const Codec* codec() const { return codec_.get(); }
  const std::shared_ptr<const Codec>& shared_codec() const { return codec_; }
  void set_codec(std::shared_ptr<const Codec> codec) { codec_ = std::move(codec); }

 protected:
  explicit Model(Space space) : space_(std::move(space)) {}
  Space space_;
  std::shared_ptr<const Codec> codec_;
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
  // Optional: a foreign model format this kind reads (e.g. ARPA n-grams), so
  // that `--model file.arpa` works like a model file: whether a file's first
  // bytes (up to 4 KiB) are one, and the reader (`size` bytes from `in`).
  bool (*recognises)(const std::string& head) = nullptr;
  std::unique_ptr<Model> (*import)(std::istream& in, const std::string& name, uint64_t size) = nullptr;
};

// The explicit table in src/models/registry.cc.
const std::vector<ModelKind>& model_kinds();

// Creates an unfitted model from config sections (model.type picks the kind).
// Fills *effective_model / *effective_train with every key used, defaults
// included, when non-null. ConfigError on an unknown type or key.
std::unique_ptr<Model> create_model(const Space& space, const json& model_cfg, const json& train_cfg,
                                    json* effective_model = nullptr, json* effective_train = nullptr);

// The unfitted model a whole config (sections space, data, model, train)
// asks for, in `space`, with `codec` attached; `dgm train` and the Python
// module's train() both start here. *effective becomes the config the model
// file keeps: every key with its default, train.seed = `seed`, the space;
// without what does not change the model (train.checkpoint_every, output).
// *effective_model, when non-null, gets the model section alone.
std::unique_ptr<Model> create_model_for_training(const json& cfg, const Space& space, std::shared_ptr<const Codec> codec,
                                                 uint64_t seed, const std::string& config_name, json* effective,
                                                 json* effective_model = nullptr);

}  // namespace dgm
