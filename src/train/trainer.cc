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
  o.warmup_steps = t.get_int("warmup_steps", def.warmup_steps, 0, int64_t(1) << 40);
  o.schedule = t.get_choice("schedule", def.schedule, {"constant", "cosine"});
  o.validate_every = t.get_int("validate_every", def.validate_every, 0, int64_t(1) << 40);
  o.adam = read_adam_options(t, def.adam);
  o.min_learning_rate = t.get_double("min_learning_rate", def.min_learning_rate, 0.0, o.adam.learning_rate);
  return o;
}

double scheduled_learning_rate(const TrainOptions& opt, int64_t step, int64_t total, int64_t epoch) {
  double lr = opt.adam.learning_rate * std::pow(opt.adam.lr_decay, double(epoch - 1));
  const int64_t w = opt.warmup_steps;
  if (w > 0 && step < w) lr *= double(step + 1) / double(w);
  if (opt.schedule == "cosine" && step >= w) {
    const double r = opt.adam.learning_rate > 0 ? opt.min_learning_rate / opt.adam.learning_rate : 0.0;
    const double span = double(std::max<int64_t>(1, total - w));
    const double progress = std::min(1.0, double(step - w) / span);
    lr *= r + (1.0 - r) * 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
  }
  return lr;
}

TrainResult train_minibatch(Trainable& model, const Dataset& train, const Dataset* validation,
                            const FitContext& ctx, const TrainOptions& opt) {
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
  adam.set_decay(model.decay_ranges());
  const int64_t total_steps = opt.epochs * int64_t(batches);

  TrainResult res;
  res.best_valid_nll = std::numeric_limits<double>::quiet_NaN();
  double best_nll = std::numeric_limits<double>::infinity();
  int64_t since_best = 0, step = 0;
  auto stopped = [&] { return ctx.stop && ctx.stop->load(); };
  // With validate_every, evaluations come every that many minibatches (and at
  // the end of each epoch) and are reported per step; patience counts them.
  const bool by_step = opt.validate_every > 0;
  const char* unit = by_step ? "step" : "epoch";
  // Validation, best-parameter bookkeeping and progress after `rows` rows of
  // mean NLL loss / rows; true when early stopping ends training.
  auto evaluate = [&](int64_t epoch, double loss, size_t rows) {
    TrainProgress p;
    p.unit = unit;
    p.step = by_step ? step : epoch;
    p.total = by_step ? total_steps : opt.epochs;
    p.train_nll = rows ? loss / double(rows) : p.train_nll;
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
      res.best_step = step;
      res.best_valid_nll = has_valid ? p.valid_nll : res.best_valid_nll;
      since_best = 0;
    } else {
      ++since_best;
    }
    if (ctx.monitor) ctx.monitor->on_step(p);
    if (has_valid && since_best >= opt.patience) {
      if (ctx.monitor)
        ctx.monitor->message("early stopping at " + std::string(unit) + " " + std::to_string(p.step) +
                             ": no better validation NLL for " + std::to_string(opt.patience) + (by_step ? " evaluations" : " epochs") + "; keeping " +
                             std::string(unit) + " " + std::to_string(by_step ? res.best_step : res.best_epoch));
      return true;
    }
    return false;
  };

  bool early = false;
  for (int64_t epoch = 1; epoch <= opt.epochs; ++epoch) {
    std::iota(perm.begin(), perm.end(), size_t(0));
    for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[ctx.rng->below(i)]);
    double epoch_loss = 0, part_loss = 0;
    size_t epoch_rows = 0, part_rows = 0;
    for (size_t b = 0; b < batches; ++b) {
      if (stopped()) break;
      const size_t b0 = b * B, bn = std::min(n, b0 + B) - b0;
      const size_t nc = num_chunks(bn, C);
      adam.set_learning_rate(scheduled_learning_rate(opt, step, total_steps, epoch));
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
      part_loss += loss;
      part_rows += bn;
      // Adam sums the chunk gradients in chunk order as it updates.
      std::vector<float*> parts(nc);
      for (size_t c = 0; c < nc; ++c) parts[c] = chunk_grads[c].data();
      adam.step(model.params(), parts, 1.0f / float(bn), pool, /*clear_grads=*/true);
      if (ctx.monitor) ctx.monitor->on_work(int64_t(b + 1), int64_t(batches));
      if (by_step && step % opt.validate_every == 0 && b + 1 < batches) {
        early = evaluate(epoch, part_loss, part_rows);
        part_loss = 0;
        part_rows = 0;
        if (early) break;
      }
    }
    if (early) {
      res.epochs_run = epoch;
      break;
    }
    if (stopped()) {
      res.interrupted = true;
      break;
    }
    res.epochs_run = epoch;
    if (evaluate(epoch, by_step ? part_loss : epoch_loss, by_step ? part_rows : epoch_rows)) break;
  }
  // Keep the best parameters (an interruption before the first finished epoch
  // keeps the current ones).
  if (res.best_epoch > 0) std::copy(best.begin(), best.end(), model.params());
  return res;
}

}  // namespace dgm
