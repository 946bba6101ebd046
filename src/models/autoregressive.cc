// autoregressive.cc — the shared half of FVSBN, NADE and MADE: label prior and
// marginalisation log sum_y P(y) P(x|y), ensemble averaging log mean_s P_s(x)
// (exact, by log-sum-exp), chunked scoring on the pool, seeded ancestral
// sampling and prefix completion (choosing the label and ensemble member from
// their posterior given the known prefix), training through train_minibatch.
#include "dgm/models/autoregressive.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/eigen.h"

#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model_file.h"
#include "nn/head.h"
#include "nn/workspace.h"

namespace dgm {

AutoregressiveModel::AutoregressiveModel(const Space& space, std::string kind, ConfigSection& model,
                                         ConfigSection& train, const TrainOptions& train_defaults)
    : Model(space), kind_(std::move(kind)) {
  if (space.variable_length())
    throw ConfigError("model.type: '" + kind_ + "' needs fixed-length samples; space " + space.describe() +
                      " has variable length");
  D_ = space.dims();
  K_ = space.levels();
  L_ = space.labels();
  Km1_ = K_ - 1;
  onehot_ = model.get_choice("input", K_ <= 16 ? "onehot" : "value", {"onehot", "value"}) == "onehot";
  F_ = onehot_ ? D_ * Km1_ : D_;
  natural_order_.resize(size_t(D_));
  for (int64_t d = 0; d < D_; ++d) natural_order_[size_t(d)] = d;
  log_prior_.assign(size_t(L_), L_ ? -std::log(double(L_)) : 0.0);
  train_opt_ = read_train_options(train, train_defaults);
}

void AutoregressiveModel::check_space(const Space& s, const char* what) const {
  if (s != space_)
    throw DataError(std::string(what) + " space " + s.describe() + " differs from the model's space " +
                    space_.describe());
}

double AutoregressiveModel::log_softmax_ref(const float* z, int32_t v, float w, float* dz) const {
  // The logits are float32; the log-probability is formed from them in double
  // so that the K probabilities of a position sum to 1 to double precision
  // (the model's likelihood is exact, not float-rounded).
  if (Km1_ == 1) {
    // Binary: log sigmoid(+-z), stable for large |z|.
    const double s = v ? double(z[0]) : -double(z[0]);
    const double lp = s >= 0 ? -std::log1p(std::exp(-s)) : s - std::log1p(std::exp(s));
    if (dz) {
      const float p1 = 1.0f / (1.0f + std::exp(-z[0]));
      dz[0] = w * (p1 - float(v));
    }
    return lp;
  }
  double m = 0.0;
  for (int64_t k = 0; k < Km1_; ++k) m = std::max(m, double(z[k]));
  double s = std::exp(-m);
  for (int64_t k = 0; k < Km1_; ++k) s += std::exp(double(z[k]) - m);
  const double lse = m + std::log(s);
  if (dz) {
    for (int64_t k = 0; k < Km1_; ++k) dz[k] = w * float(std::exp(double(z[k]) - lse));
    if (v > 0) dz[v - 1] -= w;
  }
  return (v ? double(z[v - 1]) : 0.0) - lse;
}

void AutoregressiveModel::binary_log_probs(const float* z, const float* t, long m, double* lp, float* dz) {
  nn::bernoulli_log_prob(z, t, m, lp, dz);
}

int32_t AutoregressiveModel::sample_ref(const float* z, double temperature, Rng& rng, SampleScratch& sc) const {
  // Level 0 is the reference (logit 0).
  sc.lw.resize(size_t(K_));
  sc.lw[0] = 0.0;
  for (int64_t k = 0; k < Km1_; ++k) sc.lw[size_t(k + 1)] = double(z[k]);
  return int32_t(rng.categorical_log(sc.lw.data(), size_t(K_), temperature, sc.w));
}

void AutoregressiveModel::fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) {
  check_space(train.space(), "training data");
  if (validation && !validation->empty()) check_space(validation->space(), "validation data");
  // Over ranks (ctx.comm) the data are shards: sizes and label counts are
  // integers, summed exactly.
  Communicator* comm = ctx.comm;
  if (comm ? comm->sum(int64_t(train.size())) == 0 : train.empty()) throw DataError("training data is empty");
  if (L_ > 0) {
    std::vector<int64_t> seen(size_t(L_), 0);
    for (size_t i = 0; i < train.size(); ++i)
      if (train.label(i) >= 0) ++seen[size_t(train.label(i))];
    if (comm) comm->sum(seen.data(), seen.size());
    std::vector<double> counts(size_t(L_), 1.0);  // +1 smoothing
    for (int64_t y = 0; y < L_; ++y) counts[size_t(y)] += double(seen[size_t(y)]);
    double total = 0;
    for (double c : counts) total += c;
    for (int64_t y = 0; y < L_; ++y) log_prior_[size_t(y)] = std::log(counts[size_t(y)] / total);
  }
  init_parameters(*ctx.rng);
  result_ = train_minibatch(*this, train, validation, ctx, train_opt_);
}

double AutoregressiveModel::loss_and_grad(const Dataset& data, const size_t* rows, size_t n, float* grad) const {
  const size_t D = size_t(D_);
  std::vector<int32_t> x(n * D), y(n, 0);
  std::vector<size_t> unknown;
  for (size_t i = 0; i < n; ++i) {
    data.get(rows[i], x.data() + i * D);
    if (L_ > 0) {
      y[i] = data.label(rows[i]);
      if (y[i] < 0) unknown.push_back(i);
    }
  }
  // Kernels write through Eigen maps: an unaligned caller buffer is replaced
  // by an aligned one so the result does not depend on where grad lives.
  FloatBuffer tmp;
  float* const user_grad = grad;
  if (grad && reinterpret_cast<uintptr_t>(grad) % 64 != 0) {
    tmp.assign(params_.size(), 0.0f);
    grad = tmp.data();
  }
  struct AddBack {
    FloatBuffer& t;
    float* dst;
    ~AddBack() {
      for (size_t i = 0; i < t.size(); ++i) dst[i] += t[i];
    }
  } add_back{tmp, user_grad};
  std::vector<double> nll(n);
  if (unknown.empty()) {
    std::vector<float> w(n, 1.0f);
    loss_grad_rows(x.data(), y.data(), w.data(), n, grad, nll.data());
    double s = 0;
    for (double v : nll) s += v;
    return s;
  }
  // Unlabeled samples: d/dθ -log sum_y P(y)P(x|y) = sum_y r_y d/dθ -log P(x|y)
  // with the posterior r_y; expand each into L weighted rows.
  const size_t u = unknown.size(), L = size_t(L_);
  std::vector<int32_t> ux(u * L * D), uy(u * L);
  for (size_t j = 0; j < u; ++j)
    for (size_t k = 0; k < L; ++k) {
      std::copy(x.begin() + long(unknown[j] * D), x.begin() + long((unknown[j] + 1) * D), ux.begin() + long((j * L + k) * D));
      uy[j * L + k] = int32_t(k);
    }
  std::vector<double> unll(u * L);
  loss_grad_rows(ux.data(), uy.data(), nullptr, u * L, nullptr, unll.data());
  std::vector<int32_t> ex, ey;
  std::vector<float> ew;
  double loss = 0;
  std::vector<double> lj(L);
  for (size_t i = 0, j = 0; i < n; ++i) {
    if (j < u && unknown[j] == i) {
      for (size_t k = 0; k < L; ++k) lj[k] = log_prior_[k] - unll[j * L + k];
      const double z = log_sum_exp(lj.data(), L);
      loss -= z;
      for (size_t k = 0; k < L; ++k) {
        ex.insert(ex.end(), x.begin() + long(i * D), x.begin() + long((i + 1) * D));
        ey.push_back(int32_t(k));
        ew.push_back(float(std::exp(lj[k] - z)));
      }
      ++j;
    } else {
      ex.insert(ex.end(), x.begin() + long(i * D), x.begin() + long((i + 1) * D));
      ey.push_back(y[i]);
      ew.push_back(-1.0f);  // marks a labeled row (weight 1) whose NLL counts
    }
  }
  std::vector<float> w(ew.size());
  for (size_t r = 0; r < ew.size(); ++r) w[r] = ew[r] < 0 ? 1.0f : ew[r];
  std::vector<double> enll(ew.size());
  loss_grad_rows(ex.data(), ey.data(), w.data(), ew.size(), grad, enll.data());
  for (size_t r = 0; r < ew.size(); ++r)
    if (ew[r] < 0) loss += enll[r];
  return loss;
}

void AutoregressiveModel::log_prob(const DataView& xv, double* out, ThreadPool& pool) const {
  check_space(xv.space(), "scored data");
  const size_t n = xv.size(), D = size_t(D_), C = score_chunk_rows();
  const int S = num_variants();
  const std::unique_ptr<const Derived> derived = derive();
  pool.run(num_chunks(n, C), [&](size_t c) {
    const size_t r0 = c * C, m = std::min(n, r0 + C) - r0;
    // The chunk's rows in the thread's workspace: no allocation a chunk.
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    int32_t* x = ws.take<int32_t>(m * D);
    int32_t* y = ws.take_zero<int32_t>(m);
    bool any_unknown = false;
    for (size_t i = 0; i < m; ++i) {
      xv.get(r0 + i, x + i * D);
      if (L_ > 0) {
        y[i] = xv.label(r0 + i);
        any_unknown |= y[i] < 0;
      }
    }
    // lp(y)[i] = log mean_s P_s(x_i | y).
    auto ensemble = [&](const int32_t* labels, double* res) {
      if (S == 1) {
        log_prob_rows(x, labels, m, 0, nullptr, res, derived.get());
        return;
      }
      std::vector<double> per(static_cast<size_t>(S) * m), tmp(static_cast<size_t>(S));
      for (int s = 0; s < S; ++s)
        log_prob_rows(x, labels, m, s, nullptr, per.data() + size_t(s) * m, derived.get());
      for (size_t i = 0; i < m; ++i) {
        for (int s = 0; s < S; ++s) tmp[size_t(s)] = per[size_t(s) * m + i];
        res[i] = log_sum_exp(tmp.data(), size_t(S)) - std::log(double(S));
      }
    };
    if (!any_unknown) {
      ensemble(y, out + r0);
      return;
    }
    std::vector<double> all(size_t(L_) * m);
    std::vector<int32_t> yy(m);
    for (int64_t k = 0; k < L_; ++k) {
      std::fill(yy.begin(), yy.end(), int32_t(k));
      ensemble(yy.data(), all.data() + size_t(k) * m);
    }
    std::vector<double> tmp(static_cast<size_t>(L_));
    for (size_t i = 0; i < m; ++i) {
      if (y[i] >= 0) {
        out[r0 + i] = all[size_t(y[i]) * m + i];
      } else {
        for (int64_t k = 0; k < L_; ++k) tmp[size_t(k)] = log_prior_[size_t(k)] + all[size_t(k) * m + i];
        out[r0 + i] = log_sum_exp(tmp.data(), size_t(L_));
      }
    }
  });
}

double AutoregressiveModel::total_nll(const DataView& x, ThreadPool& pool) const {
  std::vector<double> lp = log_prob(x, pool);
  double s = 0;
  for (double v : lp) s -= v;
  return s;
}

Dataset AutoregressiveModel::sample(size_t n, Rng& rng, const SampleOptions& opts) const {
  if (!(opts.temperature > 0)) throw DataError("sampling temperature must be > 0");
  if (L_ > 0) space_.check_label(opts.label);
  Dataset partial(space_);
  partial.reserve(n);
  std::vector<int32_t> zero(size_t(D_), 0);
  for (size_t i = 0; i < n; ++i) partial.push_back(zero, L_ > 0 ? opts.label : -1);
  return complete(partial, std::vector<uint8_t>(n * size_t(D_), 0), rng, opts);
}

Dataset AutoregressiveModel::complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                                      const SampleOptions& opts) const {
  check_space(partial.space(), "partial data");
  if (!(opts.temperature > 0)) throw DataError("sampling temperature must be > 0");
  const size_t n = partial.size(), D = size_t(D_);
  if (known.size() != n * D)
    throw DataError("completion mask has " + std::to_string(known.size()) + " flags, expected " +
                    std::to_string(n * D) + " (N x D)");
  const int S = num_variants();
  // Every ensemble member's order must put the known positions first.
  for (size_t i = 0; i < n; ++i)
    for (int s = 0; s < S; ++s) {
      const auto& o = order(s);
      int64_t first_unknown = -1;
      for (size_t t = 0; t < D; ++t) {
        const int64_t d = o[t];
        if (!known[i * D + size_t(d)]) {
          if (first_unknown < 0) first_unknown = d;
        } else if (first_unknown >= 0) {
          throw DataError("record " + std::to_string(i + 1) + ": position " + space_.position(d) +
                          " is known but comes after unknown position " + space_.position(first_unknown) +
                          " in the model's order" + (S > 1 ? " (ensemble member " + std::to_string(s) + ")" : "") +
                          "; '" + kind_ + "' completes only positions that follow every known one");
        }
      }
    }
  if (opts.label >= 0) space_.check_label(opts.label);
  const uint64_t base = rng.next();
  const size_t C = sample_chunk_rows();
  std::vector<int32_t> xs(n * D), ys(n, 0);
  for (size_t i = 0; i < n; ++i) partial.get(i, xs.data() + i * D);
  const std::unique_ptr<const Derived> derived = derive();
  // One RNG stream a fixed-size chunk: results do not depend on threads.
  auto chunk = [&](size_t c) {
    Rng crng(base, c);
    const size_t r0 = c * C, m = std::min(n, r0 + C) - r0;
    int32_t* x = xs.data() + r0 * D;
    const uint8_t* kn = known.data() + r0 * D;
    // Posterior over (label, member) given the known prefix; draw per row.
    std::vector<int32_t> y(m, 0);
    std::vector<int> member(m, 0);
    const size_t Ly = L_ > 0 ? size_t(L_) : 1;
    std::vector<double> lw(Ly * size_t(S) * m);
    std::vector<int32_t> yy(m);
    // With nothing known (plain sampling) every prefix has log-probability 0.
    const bool none_known = std::none_of(kn, kn + m * D, [](uint8_t f) { return f != 0; });
    for (size_t k = 0; k < Ly; ++k) {
      std::fill(yy.begin(), yy.end(), int32_t(k));
      for (int s = 0; s < S; ++s) {
        double* dst = lw.data() + (k * size_t(S) + size_t(s)) * m;
        if ((Ly == 1 && S == 1) || none_known) std::fill(dst, dst + m, 0.0);
        else log_prob_rows(x, yy.data(), m, s, kn, dst, derived.get());
      }
    }
    std::vector<double> w(Ly * size_t(S)), buf;
    for (size_t i = 0; i < m; ++i) {
      const int32_t given = L_ > 0 ? (opts.label >= 0 ? opts.label : partial.label(r0 + i)) : 0;
      std::fill(w.begin(), w.end(), kNegInf);
      for (size_t k = 0; k < Ly; ++k) {
        if (L_ > 0 && given >= 0 && int32_t(k) != given) continue;
        for (int s = 0; s < S; ++s)
          w[k * size_t(S) + size_t(s)] = (L_ > 0 ? log_prior_[k] : 0.0) + lw[(k * size_t(S) + size_t(s)) * m + i];
      }
      const size_t pick = crng.categorical_log(w.data(), w.size(), 1.0, buf);
      y[i] = int32_t(pick / size_t(S));
      member[i] = int(pick % size_t(S));
    }
    for (int s = 0; s < S; ++s) {
      std::vector<size_t> idx;
      for (size_t i = 0; i < m; ++i)
        if (member[i] == s) idx.push_back(i);
      if (idx.empty()) continue;
      std::vector<int32_t> sx(idx.size() * D), sy(idx.size());
      std::vector<uint8_t> sk(idx.size() * D);
      for (size_t j = 0; j < idx.size(); ++j) {
        std::copy(x + idx[j] * D, x + (idx[j] + 1) * D, sx.begin() + long(j * D));
        std::copy(kn + idx[j] * D, kn + (idx[j] + 1) * D, sk.begin() + long(j * D));
        sy[j] = y[idx[j]];
      }
      sample_rows(sx.data(), sk.data(), sy.data(), idx.size(), s, opts.temperature, crng);
      for (size_t j = 0; j < idx.size(); ++j) std::copy(sx.begin() + long(j * D), sx.begin() + long((j + 1) * D), x + idx[j] * D);
    }
    for (size_t i = 0; i < m; ++i) ys[r0 + i] = y[i];
  };
  const size_t nc = num_chunks(n, C);
  if (opts.pool) opts.pool->run(nc, chunk);
  else
    for (size_t c = 0; c < nc; ++c) chunk(c);
  Dataset out(space_);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(xs.data() + i * D, D_, L_ > 0 ? ys[i] : -1);
  return out;
}

std::vector<double> AutoregressiveModel::conditional_log_probs(const std::vector<int32_t>& x, int32_t y,
                                                               int variant) const {
  if (int64_t(x.size()) != D_) throw DataError("conditional_log_probs: expected " + std::to_string(D_) + " values");
  space_.validate(x.data(), D_, L_ > 0 ? y : -1);
  if (L_ > 0 && y < 0) throw DataError("conditional_log_probs: a labeled space needs a label");
  if (variant < 0 || variant >= num_variants()) throw DataError("conditional_log_probs: no ensemble member " + std::to_string(variant));
  std::vector<double> out(static_cast<size_t>(D_));
  std::vector<uint8_t> known(size_t(D_), 0);
  const int32_t yy = L_ > 0 ? y : 0;
  const std::unique_ptr<const Derived> derived = derive();
  for (int64_t d = 0; d < D_; ++d) {
    known[size_t(d)] = 1;
    log_prob_rows(x.data(), &yy, 1, variant, known.data(), &out[size_t(d)], derived.get());
    known[size_t(d)] = 0;
  }
  return out;
}

std::vector<double> AutoregressiveModel::label_log_prior() const {
  if (L_ == 0) return Model::label_log_prior();
  return log_prior_;
}

void AutoregressiveModel::save(ModelWriter& w) const {
  params_.save(w);
  if (L_ > 0) w.add("label_log_prior", log_prior_.data(), {uint64_t(L_)});
  save_extra(w);
}

void AutoregressiveModel::load(const ModelReader& r) {
  params_.load(r);
  if (L_ > 0) r.read("label_log_prior", log_prior_.data(), {uint64_t(L_)});
  load_extra(r);
}

json AutoregressiveModel::describe() const {
  json j;
  j["positions"] = D_;
  j["levels"] = K_;
  j["labels"] = L_;
  j["input"] = onehot_ ? "onehot" : "value";
  j["parameters"] = params_.size();
  describe_extra(j);
  return j;
}

}  // namespace dgm
