// trainer.cc — the minibatch epoch loop shared by the neural models: seeded
// shuffles from ctx.rng, fixed-size gradient chunks reduced in chunk order,
// Adam, validation after each epoch, early stopping that restores the best
// parameters, and SIGINT (ctx.stop) handled between minibatches.
#include "dgm/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "dgm/error.h"
#include "dgm/train/params.h"

namespace dgm {

TrainOptions read_train_options(ConfigSection& t, const TrainOptions& def) {
  TrainOptions o;
  o.epochs = t.get_int("epochs", def.epochs, 1, 1000000);
  o.batch_size = t.get_int("batch_size", def.batch_size, 1, 1 << 20);
  o.patience = t.get_int("patience", def.patience, 1, 1000000);
  o.adam = read_adam_options(t, def.adam);
  return o;
}

TrainResult train_minibatch(Trainable& model, const Dataset& train, const Dataset* validation,
                            const FitContext& ctx, const TrainOptions& opt) {
  if (ctx.comm && ctx.comm->size() > 1) throw ConfigError("minibatch training over MPI is not there yet");
  if (train.empty()) throw DataError("training data is empty");
  ThreadPool& pool = *ctx.pool;
  const size_t n = train.size();
  const size_t P = model.num_params();
  const size_t B = size_t(std::min<int64_t>(opt.batch_size, int64_t(n)));
  const size_t C = std::max<size_t>(1, model.chunk_rows());
  const size_t max_chunks = num_chunks(B, C);
  const size_t batches = num_chunks(n, B);
  const bool has_valid = validation && !validation->empty();

  std::vector<FloatBuffer> chunk_grads(max_chunks, FloatBuffer(P));  // (chunks, P)
  std::vector<double> chunk_loss(max_chunks);
  std::vector<float> best(model.params(), model.params() + P);  // (P)
  std::vector<size_t> perm(n);
  Adam adam(P, opt.adam);
  adam.set_active(model.active_ranges());

  TrainResult res;
  res.best_valid_nll = std::numeric_limits<double>::quiet_NaN();
  double best_nll = std::numeric_limits<double>::infinity();
  int64_t since_best = 0, step = 0;
  auto stopped = [&] { return ctx.stop && ctx.stop->load(); };

  for (int64_t epoch = 1; epoch <= opt.epochs; ++epoch) {
    adam.set_epoch(epoch);
    std::iota(perm.begin(), perm.end(), size_t(0));
    for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[ctx.rng->below(i)]);
    double epoch_loss = 0;
    size_t epoch_rows = 0;
    for (size_t b = 0; b < batches; ++b) {
      if (stopped()) break;
      const size_t b0 = b * B, bn = std::min(n, b0 + B) - b0;
      const size_t nc = num_chunks(bn, C);
      model.begin_step(step++);
      pool.run(nc, [&](size_t c) {
        FloatBuffer& g = chunk_grads[c];  // zero: allocated so, and cleared by Adam after use
        const size_t r0 = c * C, rn = std::min(bn, r0 + C) - r0;
        chunk_loss[c] = model.loss_and_grad(train, perm.data() + b0 + r0, rn, g.data());
      });
      double loss = 0;
      for (size_t c = 0; c < nc; ++c) loss += chunk_loss[c];
      if (!std::isfinite(loss))
        throw DataError("training diverged: minibatch NLL is " + std::to_string(loss) + " at epoch " +
                        std::to_string(epoch) + "; lower train.learning_rate or set train.clip_norm");
      epoch_loss += loss;
      epoch_rows += bn;
      // Adam sums the chunk gradients in chunk order as it updates.
      std::vector<float*> parts(nc);
      for (size_t c = 0; c < nc; ++c) parts[c] = chunk_grads[c].data();
      adam.step(model.params(), parts, 1.0f / float(bn), pool, /*clear_grads=*/true);
      if (ctx.monitor) ctx.monitor->on_work(int64_t(b + 1), int64_t(batches));
    }
    if (stopped()) {
      res.interrupted = true;
      break;
    }
    res.epochs_run = epoch;
    TrainProgress p;
    p.unit = "epoch";
    p.step = epoch;
    p.total = opt.epochs;
    p.train_nll = epoch_rows ? epoch_loss / double(epoch_rows) : p.train_nll;
    res.last_train_nll = p.train_nll;
    if (has_valid) {
      p.valid_nll = model.total_nll(*validation, pool) / double(validation->size());
      p.best = p.valid_nll < best_nll;
    } else {
      p.best = true;
    }
    if (p.best) {
      best_nll = has_valid ? p.valid_nll : p.train_nll;
      std::copy(model.params(), model.params() + P, best.begin());
      res.best_epoch = epoch;
      res.best_valid_nll = has_valid ? p.valid_nll : res.best_valid_nll;
      since_best = 0;
    } else {
      ++since_best;
    }
    if (ctx.monitor) ctx.monitor->on_step(p);
    if (has_valid && since_best >= opt.patience) {
      if (ctx.monitor)
        ctx.monitor->message("early stopping at epoch " + std::to_string(epoch) + ": no better validation NLL for " +
                             std::to_string(opt.patience) + " epochs; keeping epoch " + std::to_string(res.best_epoch));
      break;
    }
  }
  // Keep the best parameters (an interruption before the first finished epoch
  // keeps the current ones).
  if (res.best_epoch > 0) std::copy(best.begin(), best.end(), model.params());
  return res;
}

}  // namespace dgm
