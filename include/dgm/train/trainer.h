// trainer.h — model-agnostic minibatch training: seeded shuffling, each
// minibatch cut into fixed-size sub-chunks whose gradients go to per-chunk
// buffers summed in chunk order (results independent of the thread count),
// Adam updates, per-epoch validation with early stopping that keeps the best
// parameters, progress to ctx.monitor, and ctx.stop honoured between minibatches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "dgm/model.h"
#include "dgm/train/adam.h"

namespace dgm {

// What the loop needs from a model. The parameters are one flat float buffer.
class Trainable {
 public:
  virtual ~Trainable() = default;
  virtual size_t num_params() const = 0;
  virtual float* params() = 0;
  // Sum over rows[0..n) of `data` of the NLL (nats), and adds its gradient to
  // grad (num_params, not cleared). Called concurrently for different chunks:
  // must only read the parameters.
  virtual double loss_and_grad(const Dataset& data, const size_t* rows, size_t n, float* grad) const = 0;
  // Sum of the NLL over x (the model's scoring, e.g. for validation).
  virtual double total_nll(const DataView& x, ThreadPool& pool) const = 0;
  // Sorted, disjoint [begin, end) ranges of the parameters that training may
  // change; the others stay fixed (e.g. weights outside a MADE mask, kept at
  // zero with zero gradient), so the optimiser skips them. Empty: all.
  virtual std::vector<std::pair<size_t, size_t>> active_ranges() const { return {}; }
  // Rows per gradient chunk: a model constant (never from the thread count).
  virtual size_t chunk_rows() const { return 25; }
  // Called before each minibatch, after the previous update, with the 0-based
  // global step (e.g. to pick a mask); models may cache what they derive from
  // the parameters here, and loss_and_grad may rely on that cache.
  virtual void begin_step(int64_t step) { (void)step; }
};

struct TrainOptions {
  int64_t epochs = 20;
  int64_t batch_size = 100;
  int64_t patience = 5;  // stop after this many epochs without a better validation NLL
  AdamOptions adam;
};

// Reads epochs, batch_size, patience and the Adam keys from a "train" section.
TrainOptions read_train_options(ConfigSection& train, const TrainOptions& def = {});

struct TrainResult {
  int64_t epochs_run = 0;
  int64_t best_epoch = 0;      // 0 when no epoch finished
  double best_valid_nll = 0;   // nats per sample; NaN without validation
  double last_train_nll = 0;   // mean minibatch NLL over the last epoch
  bool interrupted = false;    // ctx.stop ended the run before its last epoch
};

// Trains from the model's current parameters (or, with ctx.resume, from the
// saved state of an identical run) and leaves the best ones in the model.
// Every minibatch boundary is a resumable point: ctx.checkpoint is asked there
// (and saves there when ctx.stop is set). A model on this loop gets
// checkpoints and resume for free, provided everything fit() derives before
// calling it (initial parameters, masks, label priors) is a function of the
// data, the config and ctx.rng alone.
TrainResult train_minibatch(Trainable& model, const Dataset& train, const Dataset* validation,
                            const FitContext& ctx, const TrainOptions& opt);

}  // namespace dgm
