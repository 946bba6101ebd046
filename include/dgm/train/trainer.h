// trainer.h — model-agnostic minibatch training: seeded shuffling, each
// minibatch cut into fixed-size sub-chunks whose gradients go to per-chunk
// buffers summed in chunk order (results independent of the thread count),
// Adam / AdamW updates under a learning-rate schedule (per-epoch decay, linear
// warmup, cosine decay), per-epoch validation with early stopping that keeps
// the best parameters, progress to ctx.monitor, and ctx.stop honoured between
// minibatches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
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
  // The same, called by the loop, where rows[i] is the sample at place
  // `first + i` of the epoch's order: a key for per-sample randomness
  // (dropout) that is the same for any number of threads and MPI ranks (the
  // row indices are not: over ranks they index the rank's own rows).
  virtual double loss_and_grad_at(const Dataset& data, const size_t* rows, size_t n, uint64_t first,
                                  float* grad) const {
    (void)first;
    return loss_and_grad(data, rows, n, grad);
  }
  // Sum of the NLL over x (the model's scoring, e.g. for validation).
  virtual double total_nll(const DataView& x, ThreadPool& pool) const = 0;
  // Sorted, disjoint [begin, end) ranges of the parameters that training may
  // change; the others stay fixed (e.g. weights outside a MADE mask, kept at
  // zero with zero gradient), so the optimiser skips them. Empty: all.
  virtual std::vector<std::pair<size_t, size_t>> active_ranges() const { return {}; }
  // Sorted, disjoint ranges that weight decay applies to (e.g. matrices, not
  // gains and biases). Empty: all.
  virtual std::vector<std::pair<size_t, size_t>> decay_ranges() const { return {}; }
  // Rows per gradient chunk: a model constant (never from the thread count).
  virtual size_t chunk_rows() const { return 25; }
  // Called before each minibatch, after the previous update, with the 0-based
  // global step (e.g. to pick a mask); models may cache what they derive from
  // the parameters here, and loss_and_grad may rely on that cache.
  virtual void begin_step(int64_t step) { (void)step; }
};

// The learning rate of minibatch s (0-based, of `total` = epochs x minibatches
// an epoch) in epoch e (1-based):
//   lr(s) = learning_rate * lr_decay^(e-1) * warmup(s) * shape(s)
//   warmup(s) = min(1, (s + 1) / warmup_steps)            (1 without warmup)
//   shape(s)  = 1 for "constant"; for "cosine"
//               r + (1 - r) (1 + cos(pi min(1, (s - warmup_steps) / (total - warmup_steps)))) / 2
//               after the warmup, r = min_learning_rate / learning_rate (Loshchilov & Hutter, 2017).
struct TrainOptions {
  int64_t epochs = 20;
  int64_t batch_size = 100;
  int64_t patience = 5;  // stop after this many evaluations (epochs) without a better validation NLL
  int64_t warmup_steps = 0;
  std::string schedule = "constant";  // "constant" or "cosine"
  double min_learning_rate = 0.0;
  int64_t validate_every = 0;  // minibatches between validations (also at each epoch's end); 0 = once an epoch
  AdamOptions adam;
};

// lr(s) above for minibatch `step` (0-based) of `total`, in `epoch` (1-based).
double scheduled_learning_rate(const TrainOptions& opt, int64_t step, int64_t total, int64_t epoch);

// Reads epochs, batch_size, patience, warmup_steps, schedule,
// min_learning_rate, validate_every and the Adam keys from a "train" section.
TrainOptions read_train_options(ConfigSection& train, const TrainOptions& def = {});

struct TrainResult {
  int64_t epochs_run = 0;
  int64_t best_epoch = 0;      // 0 when no epoch finished
  int64_t best_step = 0;       // minibatches done at the best evaluation
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
