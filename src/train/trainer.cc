// trainer.cc — the minibatch epoch loop shared by the neural models: seeded
// shuffles from ctx.rng, fixed-size gradient chunks reduced in chunk order,
// Adam / AdamW under a learning-rate schedule, validation after each epoch (or
// every validate_every minibatches), early stopping that restores the best
// parameters, SIGINT (ctx.stop) handled between minibatches, and checkpoints
// (ctx.checkpoint) from which ctx.resume continues bit for bit.
//
// Gradient chunks are summed exactly (fixed point, so neither threads nor
// ranks change the sum). Over MPI ranks (ctx.comm): every rank draws the same
// epoch order over the whole training set; the chunks of each minibatch are
// shared out among the ranks (rank r computes chunks [nc r / P, nc (r+1) / P)),
// and at the start of an epoch the rows of a rank's chunks are sent to it from
// the ranks whose shards hold them. Per minibatch one max-reduction (the
// largest |gradient|, which fixes the fixed-point grid, and every chunk's
// loss) and one int64 sum of the gradient over the trainable parameters; so
// the update, and the model file, are the same for any number of ranks.
#include "dgm/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include "nn/avx512.h"
#include "train/fixed4.h"

#include "dgm/distributed.h"
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

namespace {

constexpr const char* kLoop = "minibatch";

// What one minibatch run keeps between minibatches; a checkpoint is exactly
// this plus the current parameters, the optimiser state and the RNG state.
struct LoopState {
  int64_t epoch = 1;     // the current epoch (1-based)
  size_t batch = 0;      // the next minibatch of this epoch; perm holds this epoch's order
  int64_t step = 0;      // minibatches done (the global step given to begin_step)
  int64_t since_best = 0;
  double epoch_loss = 0;  // NLL summed over this epoch's minibatches so far
  size_t epoch_rows = 0;
  double part_loss = 0;   // the same since the last evaluation (validate_every)
  size_t part_rows = 0;
  int64_t best_step = 0;
  double best_nll = std::numeric_limits<double>::infinity();
};

const json& counter(const TrainState& s, const char* key) {
  if (!s.counters.contains(key) || !s.counters.at(key).is_number_integer())
    throw FormatError(std::string("training state has no counter '") + key + "'");
  return s.counters.at(key);
}

template <typename T>
const std::vector<T>& array(const std::map<std::string, std::vector<T>>& m, const char* key, size_t size) {
  auto it = m.find(key);
  if (it == m.end()) throw FormatError(std::string("training state has no array '") + key + "'");
  if (it->second.size() != size)
    throw FormatError(std::string("training state array '") + key + "' has " + std::to_string(it->second.size()) +
                      " elements, expected " + std::to_string(size));
  return it->second;
}

// The sum over chunks (and ranks) of chunk gradients, exact: each chunk's
// gradient is rounded once to a grid 2^-bits fixed by the largest |entry| of
// any chunk of the minibatch, and the grid points are added as int64. Works
// on the trainable ranges only, packed (what goes over the network).
class ExactGradientSum {
 public:
  ExactGradientSum(size_t num_params, std::vector<std::pair<size_t, size_t>> active) {
    if (active.empty()) active = {{0, num_params}};
    for (const auto& [b, e] : active)
      for (size_t s = b; s < e; s += kParamSlice) slices_.push_back({s, std::min(e, s + kParamSlice), packed_});
    for (auto& sl : slices_) {
      sl.at = packed_;
      packed_ += sl.end - sl.begin;
    }
    acc_.assign(packed_, 0);
  }
  size_t packed() const { return packed_; }

  // The largest |entry| of one chunk gradient over the ranges; +inf when
  // one is not finite. Called by the chunk's own task right after the model
  // wrote it, while much of it is still in cache.
  double max_abs(const float* g) const {
    // On the bits: |x| is x without its sign bit, and for non-negative floats
    // the bits order as the values do, with inf and NaN above every finite
    // value, so one vectorisable integer max gives both answers.
    uint32_t m = 0;
    for (const Slice& sl : slices_) {
      const float* x = g + sl.begin;
      const size_t len = sl.end - sl.begin;
      for (size_t j = 0; j < len; ++j) {
        uint32_t b;
        std::memcpy(&b, x + j, sizeof b);
        b &= 0x7fffffffu;
        m = b > m ? b : m;
      }
    }
    float v;
    std::memcpy(&v, &m, sizeof v);
    return m < 0x7f800000u ? double(v) : std::numeric_limits<double>::infinity();
  }

  // Adds the chunk gradients, rounded to fp's grid, to the packed int64
  // accumulator, and zeroes them.
  void add(const std::vector<float*>& grads, const FixedPoint& fp, ThreadPool& pool) {
    pool.run(slices_.size(), [&](size_t k) {
      const Slice& sl = slices_[k];
      int64_t* a = acc_.data() + sl.at;
      for (float* g : grads) add_fixed(fp, g + sl.begin, sl.end - sl.begin, a);
    });
  }

  int64_t* accumulator() { return acc_.data(); }

  // add, then take, for one process (nothing to sum over ranks), for
  // parameters [b, e) (within the ranges), into out (e - b): the same
  // integers, summed eight entries at a time in registers instead of in the
  // accumulator, so the same floats. Elementwise, so any split of the ranges
  // gives the same floats: Adam's step(source) takes it a block at a time.
  static void take_range(const std::vector<float*>& grads, const FixedPoint& fp, size_t b, size_t e, float* out) {
    const size_t len = e - b;
    size_t j = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    const __m512d scale = _mm512_set1_pd(fp.scale), inverse = _mm512_set1_pd(fp.inverse);
    for (; j + 8 <= len; j += 8) {
      __m512i q = _mm512_setzero_si512();
      for (float* g : grads) {
        float* x = g + b + j;
        q = _mm512_add_epi64(q, _mm512_cvtpd_epi64(_mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x)), scale)));
        _mm256_storeu_ps(x, _mm256_setzero_ps());
      }
      _mm256_storeu_ps(out + j, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi64_pd(q), inverse)));
    }
#elif defined(DGM_FIXED4)
    const __m256d scale = _mm256_set1_pd(fp.scale), inverse = _mm256_set1_pd(fp.inverse);
    for (; j + 4 <= len; j += 4) {
      __m256i q = _mm256_setzero_si256();
      bool ok = true;
      for (float* g : grads) {
        const __m256d v = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + b + j)), scale);
        ok = ok && fixed4::in_range(v);
        q = _mm256_add_epi64(q, fixed4::to_int(v));
      }
      if (!ok) {  // the plain loop, for these 4
        for (size_t i = j; i < j + 4; ++i) {
          int64_t qi = 0;
          for (float* g : grads) {
            qi += fp.to_fixed(double(g[b + i]));
            g[b + i] = 0.0f;
          }
          out[i] = float(fp.to_real(qi));
        }
        continue;
      }
      for (float* g : grads) _mm_storeu_ps(g + b + j, _mm_setzero_ps());
      _mm_storeu_ps(out + j, _mm256_cvtpd_ps(_mm256_mul_pd(fixed4::to_double(q), inverse)));
    }
#endif
    for (; j < len; ++j) {
      int64_t q = 0;
      for (float* g : grads) {
        q += fp.to_fixed(double(g[b + j]));
        g[b + j] = 0.0f;
      }
      out[j] = float(fp.to_real(q));
    }
  }

  // The sum into out (num_params; entries outside the ranges untouched), and
  // the accumulator cleared.
  void take(const FixedPoint& fp, float* out, ThreadPool& pool) {
    pool.run(slices_.size(), [&](size_t k) {
      const Slice& sl = slices_[k];
      int64_t* a = acc_.data() + sl.at;
      float* o = out + sl.begin;
      const size_t len = sl.end - sl.begin;
      size_t j = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
      // float(double(q) * 2^-bits), each conversion rounding to nearest as in to_real.
      const __m512d inverse = _mm512_set1_pd(fp.inverse);
      for (; j + 8 <= len; j += 8) {
        const __m512d v = _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_loadu_si512(a + j)), inverse);
        _mm256_storeu_ps(o + j, _mm512_cvtpd_ps(v));
        _mm512_storeu_si512(a + j, _mm512_setzero_si512());
      }
#elif defined(DGM_FIXED4)
      const __m256d inverse = _mm256_set1_pd(fp.inverse);
      for (; j + 4 <= len; j += 4) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j));
        _mm_storeu_ps(o + j, _mm256_cvtpd_ps(_mm256_mul_pd(fixed4::to_double(q), inverse)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + j), _mm256_setzero_si256());
      }
#endif
      for (; j < len; ++j) {
        o[j] = float(fp.to_real(a[j]));
        a[j] = 0;
      }
    });
  }

 private:
  // a[j] += fp.to_fixed(g[j]) and g[j] = 0 for j < len. x * 2^bits is exact
  // in double (x is a float), and vcvtpd2qq rounds it to the nearest int64 as
  // llrint does (both in the current rounding mode, round-to-nearest-even):
  // the same integers, eight at a time.
  static void add_fixed(const FixedPoint& fp, float* g, size_t len, int64_t* a) {
    size_t j = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    const __m512d scale = _mm512_set1_pd(fp.scale);
    for (; j + 8 <= len; j += 8) {
      const __m512d x = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(g + j)), scale);
      const __m512i q = _mm512_cvtpd_epi64(x);
      _mm512_storeu_si512(a + j, _mm512_add_epi64(_mm512_loadu_si512(a + j), q));
      _mm256_storeu_ps(g + j, _mm256_setzero_ps());
    }
#elif defined(DGM_FIXED4)
    const __m256d scale = _mm256_set1_pd(fp.scale);
    for (; j + 4 <= len; j += 4) {
      const __m256d x = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + j)), scale);
      if (!fixed4::in_range(x)) {
        for (size_t i = j; i < j + 4; ++i) a[i] += fp.to_fixed(double(g[i]));
      } else {
        __m256i* at = reinterpret_cast<__m256i*>(a + j);
        _mm256_storeu_si256(at, _mm256_add_epi64(_mm256_loadu_si256(at), fixed4::to_int(x)));
      }
      _mm_storeu_ps(g + j, _mm_setzero_ps());
    }
#endif
    for (; j < len; ++j) {
      a[j] += fp.to_fixed(double(g[j]));
      g[j] = 0.0f;
    }
  }

  struct Slice {
    size_t begin, end, at;  // [begin, end) of the parameters; at: offset in the packed buffer
  };
  std::vector<Slice> slices_;
  size_t packed_ = 0;
  std::vector<int64_t> acc_;        // (packed)
};

}  // namespace

TrainResult train_minibatch(Trainable& model, const Dataset& train, const Dataset* validation,
                            const FitContext& ctx, const TrainOptions& opt) {
  LocalCommunicator one;
  Communicator& comm = ctx.comm ? *ctx.comm : one;
  const int R = comm.size(), rank = comm.rank();
  const ShardPlace place = shard_place(comm, train.size());
  if (place.total == 0) throw DataError("training data is empty");
  ThreadPool& pool = *ctx.pool;
  const size_t n = size_t(place.total);  // over all ranks
  const size_t P = model.num_params();
  const size_t B = size_t(std::min<int64_t>(opt.batch_size, int64_t(n)));
  const size_t C = std::max<size_t>(1, model.chunk_rows());
  const size_t max_chunks = num_chunks(B, C);
  const size_t batches = num_chunks(n, B);
  const size_t n_valid = validation ? size_t(comm.sum(int64_t(validation->size()))) : 0;
  const bool has_valid = n_valid > 0;
  // The chunks of a minibatch of nc this rank computes.
  auto my_chunks = [&](size_t nc) {
    return std::make_pair(nc * size_t(rank) / size_t(R), nc * size_t(rank + 1) / size_t(R));
  };

  std::vector<FloatBuffer> chunk_grads(max_chunks, FloatBuffer(P));  // (chunks, P), this rank's
  std::vector<double> chunk_loss(max_chunks), chunk_max(max_chunks);
  std::vector<float> best(model.params(), model.params() + P);  // (P)
  std::vector<size_t> perm(n);
  Adam adam(P, opt.adam);
  adam.set_active(model.active_ranges());
  ExactGradientSum grad_sum(P, model.active_ranges());
  FloatBuffer grad(R > 1 ? P : 0);  // (P) the minibatch's summed gradient, over ranks

  // Over ranks, the rows of this rank's chunks for the current epoch order:
  // epoch_rows holds them by position; first_row[b] is the row of the first
  // position of minibatch b's chunks here.
  Dataset epoch_rows;
  std::vector<size_t> first_row(batches + 1, 0), identity;
  auto share_out = [&] {
    if (R == 1) return;
    std::vector<size_t> position(n);
    for (size_t p = 0; p < n; ++p) position[perm[p]] = p;
    std::vector<int> dest(train.size());
    std::vector<uint64_t> key(train.size());
    for (size_t k = 0; k < train.size(); ++k) {
      const size_t p = position[size_t(place.offset) + k], b = p / B;
      const size_t bn = std::min(n, b * B + B) - b * B, c = (p - b * B) / C, nc = num_chunks(bn, C);
      // Owner of chunk c of nc: the rank r with nc r / R <= c < nc (r+1) / R.
      int r = int((c * size_t(R)) / nc);
      while (r > 0 && nc * size_t(r) / size_t(R) > c) --r;
      while (r + 1 < R && nc * size_t(r + 1) / size_t(R) <= c) ++r;
      dest[k] = r;
      key[k] = p;
    }
    epoch_rows = exchange_rows(comm, train, dest, key).rows;
    for (size_t b = 0; b < batches; ++b) {
      const size_t bn = std::min(n, b * B + B) - b * B;
      const auto mine = my_chunks(num_chunks(bn, C));
      first_row[b + 1] = first_row[b] + (mine.second > mine.first ? std::min(bn, mine.second * C) - mine.first * C : 0);
    }
    if (first_row[batches] != epoch_rows.size()) throw Error("train_minibatch: rows lost while sharing out an epoch");
    identity.resize(epoch_rows.size());
    std::iota(identity.begin(), identity.end(), size_t(0));
  };
  // Validation NLL per block of the validation set, the block sums added in
  // block order: the same for any number of ranks.
  auto validation_nll = [&] {
    const ShardPlace vp = shard_place(comm, validation->size());
    const size_t block = size_t(shard_block(vp.total));
    std::vector<double> sums;
    for (size_t b0 = 0; b0 < validation->size(); b0 += block)
      sums.push_back(model.total_nll(DataView(*validation, b0, std::min(validation->size(), b0 + block)), pool));
    return sum_in_order(comm, sums) / double(vp.total);
  };
  adam.set_decay(model.decay_ranges());
  const int64_t total_steps = opt.epochs * int64_t(batches);

  TrainResult res;
  res.best_valid_nll = std::numeric_limits<double>::quiet_NaN();
  LoopState st;
  // Every rank stops at the same minibatch.
  auto stopped = [&] { return comm.any(ctx.stop && ctx.stop->load()); };
  auto shuffle = [&] {
    std::iota(perm.begin(), perm.end(), size_t(0));
    for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[ctx.rng->below(i)]);
  };

  if (ctx.resume) {
    const TrainState& s = *ctx.resume;
    if (s.loop != kLoop)
      throw FormatError("training state was written by the '" + s.loop + "' loop, not the minibatch loop");
    if (counter(s, "train_rows").get<uint64_t>() != n || counter(s, "params").get<uint64_t>() != P)
      throw FormatError("training state is for " + counter(s, "train_rows").dump() + " training samples and " +
                        counter(s, "params").dump() + " parameters, not " + std::to_string(n) + " and " +
                        std::to_string(P));
    st.epoch = counter(s, "epoch").get<int64_t>();
    st.batch = counter(s, "batch").get<size_t>();
    st.step = counter(s, "step").get<int64_t>();
    st.since_best = counter(s, "since_best").get<int64_t>();
    st.epoch_rows = counter(s, "epoch_rows").get<size_t>();
    st.part_rows = counter(s, "part_rows").get<size_t>();
    st.best_step = counter(s, "best_step").get<int64_t>();
    res.best_step = st.best_step;
    res.epochs_run = counter(s, "epochs_run").get<int64_t>();
    res.best_epoch = counter(s, "best_epoch").get<int64_t>();
    if (st.epoch < 1 || st.epoch > opt.epochs || st.batch >= batches)
      throw FormatError("training state is at epoch " + std::to_string(st.epoch) + ", minibatch " +
                        std::to_string(st.batch + 1) + ": outside this run");
    const auto& sums = array(s.f64, "sums", 5);
    st.epoch_loss = sums[0];
    st.best_nll = sums[1];
    res.best_valid_nll = sums[2];
    res.last_train_nll = sums[3];
    st.part_loss = sums[4];
    const auto& cur = array(s.f32, "params", P);
    std::copy(cur.begin(), cur.end(), model.params());
    best = array(s.f32, "best", P);
    adam.restore(counter(s, "adam_steps").get<int64_t>(), array(s.f32, "adam_m", P), array(s.f32, "adam_v", P));
    const auto& order = array(s.u64, "order", n);
    for (size_t i = 0; i < n; ++i) {
      if (order[i] >= n) throw FormatError("training state has a data order entry out of range");
      perm[i] = size_t(order[i]);
    }
    const auto& r = array(s.u64, "rng", 4);
    ctx.rng->set_state({r[0], r[1], r[2], r[3]});
  }

  // The checkpoint at the current position (before minibatch st.batch of
  // st.epoch). The model holds its best parameters during the save.
  auto checkpoint = [&] {
    TrainState s;
    s.loop = kLoop;
    s.steps_done = st.epoch - 1;
    s.position = "epoch " + std::to_string(st.epoch) +
                 (st.batch > 0 ? ", minibatch " + std::to_string(st.batch + 1) + " of " + std::to_string(batches)
                               : std::string(" (its start)"));
    s.counters = {{"epoch", st.epoch},           {"batch", st.batch},
                  {"step", st.step},             {"since_best", st.since_best},
                  {"epoch_rows", st.epoch_rows}, {"epochs_run", res.epochs_run},
                  {"best_epoch", res.best_epoch}, {"adam_steps", adam.steps()},
                  {"part_rows", st.part_rows},   {"best_step", st.best_step},
                  {"train_rows", n},             {"params", P}};
    s.f64["sums"] = {st.epoch_loss, st.best_nll, res.best_valid_nll, res.last_train_nll, st.part_loss};
    s.f32["params"].assign(model.params(), model.params() + P);
    s.f32["best"] = best;
    s.f32["adam_m"].assign(adam.first_moment().begin(), adam.first_moment().end());
    s.f32["adam_v"].assign(adam.second_moment().begin(), adam.second_moment().end());
    s.u64["order"].assign(perm.begin(), perm.end());
    const auto r = ctx.rng->state();
    s.u64["rng"].assign(r.begin(), r.end());
    // The model shows its best parameters (the current ones before any epoch
    // finished) while the checkpoint is saved, then gets the current ones back.
    if (res.best_epoch > 0) std::copy(best.begin(), best.end(), model.params());
    struct Restore {
      const std::vector<float>& cur;
      float* dst;
      ~Restore() { std::copy(cur.begin(), cur.end(), dst); }
    } restore{s.f32["params"], model.params()};
    ctx.checkpoint->save(s);
  };

  // With validate_every, evaluations come every that many minibatches (and at
  // the end of each epoch) and are reported per step; patience counts them.
  const bool by_step = opt.validate_every > 0;
  const char* unit = by_step ? "step" : "epoch";
  // Validation, best-parameter bookkeeping and progress after `rows` rows of
  // mean NLL loss / rows; true when early stopping ends training.
  auto evaluate = [&](int64_t epoch, double loss, size_t rows) {
    TrainProgress p;
    p.unit = unit;
    p.step = by_step ? st.step : epoch;
    p.total = by_step ? total_steps : opt.epochs;
    p.learning_rate = adam.learning_rate();
    p.train_nll = rows ? loss / double(rows) : p.train_nll;
    res.last_train_nll = p.train_nll;
    if (has_valid) {
      p.valid_nll = validation_nll();
      p.best = p.valid_nll < st.best_nll;
    } else {
      p.best = true;
    }
    if (p.best) {
      st.best_nll = has_valid ? p.valid_nll : p.train_nll;
      std::copy(model.params(), model.params() + P, best.begin());
      res.best_epoch = epoch;
      res.best_step = st.best_step = st.step;
      res.best_valid_nll = has_valid ? p.valid_nll : res.best_valid_nll;
      st.since_best = 0;
    } else {
      ++st.since_best;
    }
    if (ctx.monitor) ctx.monitor->on_step(p);
    if (has_valid && st.since_best >= opt.patience) {
      if (ctx.monitor)
        ctx.monitor->message("early stopping at " + std::string(unit) + " " + std::to_string(p.step) +
                             ": no better validation NLL for " + std::to_string(opt.patience) +
                             (by_step ? " evaluations" : " epochs") + "; keeping " + std::string(unit) + " " +
                             std::to_string(by_step ? res.best_step : res.best_epoch));
      return true;
    }
    return false;
  };

  if (ctx.monitor) {
    TrainProgress p;
    p.unit = unit;
    p.step = by_step ? st.step : st.epoch - 1;
    p.total = by_step ? total_steps : opt.epochs;
    p.learning_rate = opt.adam.learning_rate;
    ctx.monitor->on_start(p);
  }
  // A resumed run continues at the saved position, whose data order is
  // restored (checkpoints are taken after an epoch's shuffle), and does not
  // save the checkpoint it was resumed from again.
  bool resumed = ctx.resume != nullptr, early = false;
  for (; st.epoch <= opt.epochs; ++st.epoch, st.batch = 0) {
    if (!resumed) {
      shuffle();
      st.epoch_loss = 0;
      st.epoch_rows = 0;
      st.part_loss = 0;
      st.part_rows = 0;
    }
    share_out();
    for (; st.batch < batches; ++st.batch) {
      // Every minibatch boundary is a point to resume from.
      const bool stop_now = stopped();
      if (ctx.checkpoint && (stop_now || (!resumed && ctx.checkpoint->due(st.epoch - 1, st.batch == 0))))
        checkpoint();
      resumed = false;
      if (stop_now) break;
      const size_t b0 = st.batch * B, bn = std::min(n, b0 + B) - b0;
      const size_t nc = num_chunks(bn, C);
      const auto mine = my_chunks(nc);
      const size_t c0 = mine.first, c1 = mine.second;
      adam.set_learning_rate(scheduled_learning_rate(opt, st.step, total_steps, st.epoch));
      model.begin_step(st.step++);
      pool.run(c1 - c0, [&](size_t k) {
        const size_t c = c0 + k;
        FloatBuffer& g = chunk_grads[k];  // zero: allocated so, and cleared by the sum after use
        const size_t r0 = c * C, rn = std::min(bn, r0 + C) - r0;
        const size_t* rows = R == 1 ? perm.data() + b0 + r0 : identity.data() + first_row[st.batch] + (c - c0) * C;
        chunk_loss[k] = model.loss_and_grad_at(R == 1 ? train : epoch_rows, rows, rn, b0 + r0, g.data());
        chunk_max[k] = grad_sum.max_abs(g.data());
      });
      std::vector<float*> parts(c1 - c0);
      for (size_t k = 0; k < parts.size(); ++k) parts[k] = chunk_grads[k].data();
      // One max-reduction: the largest |gradient entry| and every chunk's loss
      // (-inf where another rank has it; a loss that is not finite as +inf).
      std::vector<double> top(nc + 1, -std::numeric_limits<double>::infinity());
      top[0] = 0;
      for (size_t k = 0; k < parts.size(); ++k) top[0] = std::max(top[0], chunk_max[k]);
      for (size_t c = c0; c < c1; ++c)
        top[1 + c] = std::isfinite(chunk_loss[c - c0]) ? chunk_loss[c - c0] : std::numeric_limits<double>::infinity();
      comm.max(top.data(), top.size());
      double loss = 0;
      for (size_t c = 0; c < nc; ++c) loss += top[1 + c];
      if (!std::isfinite(loss) || !std::isfinite(top[0]))
        throw DataError("training diverged: minibatch NLL " +
                        (std::isfinite(loss) ? "is finite but the gradient is not" : "is " + std::to_string(loss)) +
                        " at epoch " + std::to_string(st.epoch) + "; lower train.learning_rate or set train.clip_norm");
      st.epoch_loss += loss;
      st.epoch_rows += bn;
      st.part_loss += loss;
      st.part_rows += bn;
      // Every chunk's gradient is bounded by top[0], so their sum by nc top[0].
      const FixedPoint fp = FixedPoint::for_bound(double(nc) * top[0]);
      if (R == 1) {
        // Summed a block at a time as Adam consumes it: the same floats as
        // add_and_take into grad, without storing it.
        adam.step(
            model.params(),
            [&](size_t b, size_t e, float* out) { ExactGradientSum::take_range(parts, fp, b, e, out); },
            1.0f / float(bn), pool);
      } else {
        grad_sum.add(parts, fp, pool);
        comm.sum(grad_sum.accumulator(), grad_sum.packed());
        grad_sum.take(fp, grad.data(), pool);
        adam.step(model.params(), std::vector<float*>{grad.data()}, 1.0f / float(bn), pool, /*clear_grads=*/true);
      }
      if (ctx.monitor) ctx.monitor->on_work(int64_t(st.batch + 1), int64_t(batches));
      if (by_step && st.step % opt.validate_every == 0 && st.batch + 1 < batches) {
        early = evaluate(st.epoch, st.part_loss, st.part_rows);
        st.part_loss = 0;
        st.part_rows = 0;
        if (early) break;
      }
    }
    if (early) {
      res.epochs_run = st.epoch;
      break;
    }
    if (st.batch < batches) {  // stopped before the epoch's end
      res.interrupted = true;
      break;
    }
    res.epochs_run = st.epoch;
    if (evaluate(st.epoch, by_step ? st.part_loss : st.epoch_loss, by_step ? st.part_rows : st.epoch_rows)) break;
    st.part_loss = 0;
    st.part_rows = 0;
  }
  // Keep the best parameters (an interruption before the first finished epoch
  // keeps the current ones).
  if (res.best_epoch > 0) std::copy(best.begin(), best.end(), model.params());
  return res;
}

}  // namespace dgm
