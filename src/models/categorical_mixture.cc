// categorical_mixture.cc — exact log-likelihood, sampling, completion and the
// model-file arrays of a (class-conditional) mixture of products of
// categoricals: log P(x|y) = log sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d),
// computed by D table-row additions over K (accumulated in double from the
// stored double or float values, minus the per-component normaliser) and one
// log-sum-exp. Sampling and completion run fixed chunks of rows on
// SampleOptions::pool, one RNG stream a chunk, through Rng::categorical_log.
#include "dgm/models/categorical_mixture.h"

#include "nn/eigen.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model_file.h"

namespace dgm {
namespace {

constexpr size_t kScoreGrain = 256;  // samples per scoring chunk

constexpr size_t kSampleGrain = 256;  // samples per sampling / completion chunk

}  // namespace

CategoricalMixtureBase::CategoricalMixtureBase(const Space& space, int64_t components, const char* kind_name,
                                               bool single)
    : Model(space), single_(single) {
  if (space.variable_length())
    throw DataError(std::string("model '") + kind_name + "' needs fixed-length samples; space " + space.describe() +
                    " has variable-length sequences (use a sequence model)");
  G_ = std::max<int64_t>(1, space.labels());
  K_ = components;
  D_ = space.dims();
  L_ = space.levels();
  // Checked in double first: the product of four int64 may overflow.
  const double cells = double(G_) * double(K_) * double(D_) * double(L_);
  const double elem = single_ ? 4.0 : 8.0;
  if (cells * elem > double(kMaxTableBytes))
    throw ConfigError(std::string("model: '") + kind_name + "' with " + std::to_string(K_) + " components on " +
                      space.describe() + " needs " + std::to_string(int64_t(cells)) + " table entries (" +
                      std::to_string(int64_t(cells * elem / 1048576)) + " MiB in " + (single_ ? "float32" : "float64") +
                      "), more than " + std::to_string(kMaxTableBytes >> 20) + " MiB; use fewer components" +
                      (single_ ? "" : " or model.precision \"float32\""));
  // The table in its precision and EM's statistics of the same size in double.
  if (cells * (elem + 16) > double(memory_budget()))
    throw ConfigError(std::string("model: '") + kind_name + "' with " + std::to_string(K_) + " components on " +
                      space.describe() + " " + over_budget(uint64_t(cells * (elem + 16)), memory_budget()) +
                      " for its parameters; use fewer components");
  label_log_prior_.assign(size_t(G_), -std::log(double(G_)));
  log_weight_.assign(size_t(G_ * K_), -std::log(double(K_)));
  if (single_) log_table32_.assign(size_t(G_ * K_ * D_ * L_), float(-std::log(double(L_))));
  else log_table_.assign(size_t(G_ * K_ * D_ * L_), -std::log(double(L_)));
  log_norm_.assign(size_t(G_ * D_ * K_), 0.0);
  comp_norm_.assign(size_t(G_ * K_), 0.0);
  tables_changed();
}

void CategoricalMixtureBase::form_norms(int64_t g) {
  // Per (d, k): log sum_v exp(t_v), stable by the maximum over v, in double.
  std::vector<double> mx(static_cast<size_t>(K_)), sum(static_cast<size_t>(K_));
  double* cn = &comp_norm_[size_t(g * K_)];
  std::fill(cn, cn + K_, 0.0);
  for (int64_t d = 0; d < D_; ++d) {
    std::fill(mx.begin(), mx.end(), kNegInf);
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int64_t v = 0; v < L_; ++v) {
      const size_t r = table_index(g, d, v);
      for (int64_t k = 0; k < K_; ++k) mx[size_t(k)] = std::max(mx[size_t(k)], table_at(r + size_t(k)));
    }
    for (int64_t v = 0; v < L_; ++v) {
      const size_t r = table_index(g, d, v);
      for (int64_t k = 0; k < K_; ++k)
        if (mx[size_t(k)] > kNegInf) sum[size_t(k)] += std::exp(table_at(r + size_t(k)) - mx[size_t(k)]);
    }
    double* ln = &log_norm_[size_t((g * D_ + d) * K_)];
    for (int64_t k = 0; k < K_; ++k) {
      ln[k] = mx[size_t(k)] > kNegInf ? mx[size_t(k)] + std::log(sum[size_t(k)]) : 0.0;
      cn[k] += ln[k];
    }
  }
}

void CategoricalMixtureBase::tables_changed() {
  for (int64_t g = 0; g < G_; ++g) form_norms(g);
}

void CategoricalMixtureBase::set_group_table(int64_t g, const double* table) {
  const size_t n = size_t(D_ * L_ * K_), at = table_index(g, 0, 0);
  if (single_)
    for (size_t i = 0; i < n; ++i) log_table32_[at + i] = float(table[i]);
  else
    std::copy(table, table + n, log_table_.begin() + long(at));
  form_norms(g);
}

double CategoricalMixtureBase::table_sum() const {
  double s = 0;
  if (single_)
    for (float v : log_table32_) s += double(v);
  else
    for (double v : log_table_) s += v;
  return s;
}

int64_t CategoricalMixtureBase::num_parameters() const {
  return (G_ - 1) + G_ * (K_ - 1) + G_ * K_ * D_ * (L_ - 1);
}

void CategoricalMixtureBase::check_training_data(const Dataset& data, const char* what, Communicator* comm) const {
  const uint64_t first = comm ? shard_place(*comm, data.size()).offset : 0;
  std::string error;
  if (data.space() != space_) {
    error = std::string(what) + ": space " + data.space().describe() + " does not match the model's " +
            space_.describe();
  } else if (space_.has_labels()) {
    for (size_t i = 0; i < data.size() && error.empty(); ++i)
      if (data.label(i) < 0)
        error = std::string(what) + ": sample " + std::to_string(first + i) + " has no label; model '" + kind() +
                "' is class-conditional on this labeled space and trains on labeled samples only";
  }
  if (comm) comm->check(error);  // every rank stops, or none
  if (!error.empty()) throw DataError(error);
}

template <typename V>
double CategoricalMixtureBase::log_prob_group(int64_t g, const V* x, double* acc) const {
  const double* w = &log_weight_[size_t(g * K_)];
  const double* cn = &comp_norm_[size_t(g * K_)];
  auto rows = [&](const auto* t) {
    if (K_ == 1) {
      double s = w[0] - cn[0];
      for (int64_t d = 0; d < D_; ++d) s += double(t[table_index(g, d, int64_t(x[d]))]);
      return s;
    }
    for (int64_t k = 0; k < K_; ++k) acc[k] = w[k] - cn[k];
    for (int64_t d = 0; d < D_; ++d) {
      const auto* row = t + table_index(g, d, int64_t(x[d]));
      for (int64_t k = 0; k < K_; ++k) acc[k] += double(row[k]);
    }
    return log_sum_exp(acc, size_t(K_));
  };
  return single_ ? rows(log_table32_.data()) : rows(log_table_.data());
}

template double CategoricalMixtureBase::log_prob_group(int64_t, const uint8_t*, double*) const;
template double CategoricalMixtureBase::log_prob_group(int64_t, const int32_t*, double*) const;

void CategoricalMixtureBase::log_prob(const DataView& x, double* out, ThreadPool& pool) const {
  if (x.space() != space_)
    throw DataError("log_prob: data space " + x.space().describe() + " does not match the model's " +
                    space_.describe());
  const bool bytes = x.dataset().width() == 1;
  if (G_ == 1 && L_ == 2 && K_ >= 8) {
    log_prob_binary(x, out, pool);
    return;
  }
  pool.run(num_chunks(x.size(), kScoreGrain), [&](size_t c) {
    std::vector<double> acc(static_cast<size_t>(K_)), per_group(static_cast<size_t>(G_));
    std::vector<int32_t> buf(bytes ? 0 : size_t(D_));
    const size_t end = std::min(x.size(), (c + 1) * kScoreGrain);
    for (size_t i = c * kScoreGrain; i < end; ++i) {
      auto score = [&](int64_t g) {
        if (bytes) return log_prob_group(g, x.row_u8(i), acc.data());
        return log_prob_group(g, buf.data(), acc.data());
      };
      if (!bytes) x.get(i, buf.data());
      const int32_t y = space_.has_labels() ? x.label(i) : 0;
      if (y >= 0) {
        out[i] = score(y);
      } else {
        for (int64_t g = 0; g < G_; ++g) per_group[size_t(g)] = label_log_prior_[size_t(g)] + score(g);
        out[i] = log_sum_exp(per_group.data(), G_);
      }
    }
  });
}

// Binary data without labels and several components: log P(x | k) =
// x . (log t_k1 - log t_k0) + sum_d log t_k0 is one double GEMM per chunk,
// about 5x faster than K-wide table rows at K = 100. Terms are finite here
// unless some theta is 0 (alpha = 0), which falls back to table rows.
void CategoricalMixtureBase::log_prob_binary(const DataView& x, double* out, ThreadPool& pool) const {
  using MatR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::MatrixXd w(D_, K_);                                             // (D, K)
  Eigen::Array<double, 1, Eigen::Dynamic> bias(K_);                      // (K)
  for (int64_t k = 0; k < K_; ++k) bias(k) = log_weight_[size_t(k)] - comp_norm_[size_t(k)];
  bool finite = true;
  for (int64_t d = 0; d < D_; ++d)
    for (int64_t k = 0; k < K_; ++k) {
      const double t0 = table_at(table_index(0, d, 0) + size_t(k)), t1 = table_at(table_index(0, d, 1) + size_t(k));
      finite = finite && std::isfinite(t0) && std::isfinite(t1);
      w(d, k) = t1 - t0;
      bias(k) += t0;
    }
  pool.run(num_chunks(x.size(), kScoreGrain), [&](size_t c) {
    const size_t i0 = c * kScoreGrain, i1 = std::min(x.size(), i0 + kScoreGrain);
    const int64_t m = int64_t(i1 - i0);
    std::vector<double> acc(static_cast<size_t>(K_));
    if (!finite) {
      std::vector<int32_t> buf(static_cast<size_t>(D_));
      for (size_t i = i0; i < i1; ++i) {
        x.get(i, buf.data());
        out[i] = log_prob_group(0, buf.data(), acc.data());
      }
      return;
    }
    MatR xs(m, D_);  // (m, D)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t d = 0; d < D_; ++d) xs(i, d) = x.at(i0 + size_t(i), d);
    Eigen::ArrayXXd a = (xs * w).array();  // (m, K)
    a.rowwise() += bias;
    const Eigen::ArrayXd mx = a.rowwise().maxCoeff();
    a.colwise() -= mx;
    const Eigen::ArrayXd sum = a.exp().rowwise().sum();
    for (int64_t i = 0; i < m; ++i) out[i0 + size_t(i)] = mx(i) + std::log(sum(i));
  });
}

int32_t CategoricalMixtureBase::draw_position(int64_t g, int64_t k, int64_t d, double temperature, Rng& rng,
                                              std::vector<double>& lw, std::vector<double>& buf) const {
  lw.resize(size_t(L_));
  for (int64_t v = 0; v < L_; ++v) lw[size_t(v)] = table_at(table_index(g, d, v) + size_t(k));
  return int32_t(rng.categorical_log(lw.data(), size_t(L_), temperature, buf));
}

namespace {

// Runs fn(chunk) over fixed chunks of kSampleGrain rows, on the pool when given.
void for_chunks(size_t n, ThreadPool* pool, const std::function<void(size_t)>& fn) {
  const size_t nc = num_chunks(n, kSampleGrain);
  if (pool) pool->run(nc, fn);
  else
    for (size_t c = 0; c < nc; ++c) fn(c);
}

}  // namespace

Dataset CategoricalMixtureBase::sample(size_t n, Rng& rng, const SampleOptions& opts) const {
  if (!(opts.temperature > 0) || !std::isfinite(opts.temperature))
    throw ConfigError("sample: temperature must be a positive number, got " + std::to_string(opts.temperature));
  if (opts.label >= 0 && !space_.has_labels())
    throw DataError("sample: label " + std::to_string(opts.label) + " given but the space " + space_.describe() +
                    " has no labels");
  space_.check_label(opts.label);
  const size_t D = size_t(D_);
  std::vector<int32_t> rows(n * D), labels(n, -1);
  // One RNG stream a fixed chunk: the samples do not depend on the thread count.
  const uint64_t base = rng.next();
  for_chunks(n, opts.pool, [&](size_t c) {
    Rng crng(base, c);
    std::vector<double> lw, buf;
    for (size_t s = c * kSampleGrain; s < std::min(n, (c + 1) * kSampleGrain); ++s) {
      int64_t g = opts.label;
      if (g < 0) g = G_ > 1 ? int64_t(crng.categorical_log(label_log_prior_.data(), size_t(G_), 1.0, buf)) : 0;
      const int64_t k =
          K_ > 1 ? int64_t(crng.categorical_log(&log_weight_[size_t(g * K_)], size_t(K_), opts.temperature, buf)) : 0;
      for (int64_t d = 0; d < D_; ++d) rows[s * D + size_t(d)] = draw_position(g, k, d, opts.temperature, crng, lw, buf);
      if (space_.has_labels()) labels[s] = int32_t(g);
    }
  });
  Dataset out(space_);
  out.reserve(n);
  for (size_t s = 0; s < n; ++s) out.push_back(rows.data() + s * D, D_, labels[s]);
  return out;
}

Dataset CategoricalMixtureBase::complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                                         const SampleOptions& opts) const {
  if (partial.space() != space_)
    throw DataError("complete: data space " + partial.space().describe() + " does not match the model's " +
                    space_.describe());
  if (known.size() != partial.size() * size_t(D_))
    throw DataError("complete: the known-position mask has " + std::to_string(known.size()) + " entries, expected " +
                    std::to_string(partial.size() * size_t(D_)) + " (samples x positions)");
  if (!(opts.temperature > 0) || !std::isfinite(opts.temperature))
    throw ConfigError("complete: temperature must be a positive number, got " + std::to_string(opts.temperature));
  if (opts.label >= 0 && !space_.has_labels())
    throw DataError("complete: label given but the space " + space_.describe() + " has no labels");
  space_.check_label(opts.label);
  const size_t n = partial.size(), D = size_t(D_);
  std::vector<int32_t> rows(n * D), labels(n, -1);
  for (size_t i = 0; i < n; ++i) partial.get(i, rows.data() + i * D);
  const uint64_t base = rng.next();
  const size_t nc = num_chunks(n, kSampleGrain);
  std::vector<int64_t> impossible(nc, -1);  // each chunk's first row of probability zero
  for_chunks(n, opts.pool, [&](size_t c) {
    Rng crng(base, c);
    std::vector<double> post(size_t(G_ * K_)), lw, buf;
    for (size_t i = c * kSampleGrain; i < std::min(n, (c + 1) * kSampleGrain); ++i) {
      int32_t* row = rows.data() + i * D;
      const uint8_t* kn = &known[i * D];
      int32_t y = space_.has_labels() ? partial.label(i) : 0;
      if (y < 0) y = opts.label;
      // Posterior over (group, component) pairs, flattened as g*K + k: the
      // known positions' normalised log-probabilities.
      for (int64_t g = 0; g < G_; ++g)
        for (int64_t k = 0; k < K_; ++k) {
          double lp = kNegInf;
          if (y < 0 || g == y) {
            lp = (y < 0 ? label_log_prior_[size_t(g)] : 0.0) + log_weight_[size_t(g * K_ + k)];
            for (int64_t d = 0; d < D_; ++d)
              if (kn[d])
                lp += table_at(table_index(g, d, row[d]) + size_t(k)) - log_norm_[size_t((g * D_ + d) * K_ + k)];
          }
          post[size_t(g * K_ + k)] = lp;
        }
      if (log_sum_exp(post.data(), size_t(G_ * K_)) == kNegInf) {
        impossible[c] = int64_t(i);
        return;
      }
      const int64_t gk = int64_t(crng.categorical_log(post.data(), size_t(G_ * K_), opts.temperature, buf));
      const int64_t g = gk / K_, k = gk % K_;
      for (int64_t d = 0; d < D_; ++d)
        if (!kn[d]) row[d] = draw_position(g, k, d, opts.temperature, crng, lw, buf);
      if (space_.has_labels()) labels[i] = int32_t(g);
    }
  });
  for (int64_t i : impossible)
    if (i >= 0)
      throw DataError("complete: sample " + std::to_string(i) + " has known values of probability zero under the model");
  Dataset out(space_);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(rows.data() + i * D, D_, labels[i]);
  return out;
}

std::vector<double> CategoricalMixtureBase::label_log_prior() const {
  if (!space_.has_labels()) return Model::label_log_prior();
  return label_log_prior_;
}

void CategoricalMixtureBase::save(ModelWriter& w) const {
  w.add("label_log_prior", label_log_prior_.data(), {uint64_t(G_)});
  w.add("log_weight", log_weight_.data(), {uint64_t(G_), uint64_t(K_)});
  const std::vector<uint64_t> shape = {uint64_t(G_), uint64_t(D_), uint64_t(L_), uint64_t(K_)};
  if (single_) w.add("log_table", log_table32_.data(), shape);
  else w.add("log_table", log_table_.data(), shape);
}

void CategoricalMixtureBase::load(const ModelReader& r) {
  const std::vector<uint64_t> shape = {uint64_t(G_), uint64_t(D_), uint64_t(L_), uint64_t(K_)};
  std::vector<double> prior(static_cast<size_t>(G_)), weight(size_t(G_ * K_));
  r.read("label_log_prior", prior.data(), {uint64_t(G_)});
  r.read("log_weight", weight.data(), {uint64_t(G_), uint64_t(K_)});
  const size_t cells = size_t(G_ * K_ * D_ * L_);
  std::vector<double> table;
  std::vector<float> table32;
  // The table in the precision the config declares; a float64 table (files
  // written before float32 storage) is read into a float32 model too.
  if (single_) {
    table32.resize(cells);
    try {
      r.read("log_table", table32.data(), shape);
    } catch (const FormatError& first) {
      std::vector<double> wide(cells);
      try {
        r.read("log_table", wide.data(), shape);
      } catch (const FormatError&) {
        throw first;
      }
      for (size_t i = 0; i < cells; ++i) table32[i] = float(wide[i]);
    }
  } else {
    table.resize(cells);
    r.read("log_table", table.data(), shape);
  }
  auto at = [&](size_t i) { return single_ ? double(table32[i]) : table[i]; };
  // Each distribution must be a log-probability vector (no NaN, no +inf),
  // normalised up to the rounding of its storage.
  auto check = [&](const char* name, auto value, size_t first, size_t stride, int64_t n, double tol) {
    double m = kNegInf, s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = value(first + size_t(i) * stride);
      if (std::isnan(v) || v > tol) throw FormatError(r.name() + ": array '" + name + "' holds a value that is not a log-probability");
      m = std::max(m, v);
    }
    for (int64_t i = 0; i < n; ++i) s += std::exp(value(first + size_t(i) * stride) - m);
    if (m == kNegInf || std::fabs(m + std::log(s)) > tol) throw FormatError(r.name() + ": array '" + name + "' is not normalised");
  };
  auto vec = [](const std::vector<double>& v) { return [&v](size_t i) { return v[i]; }; };
  check("label_log_prior", vec(prior), 0, 1, G_, 1e-6);
  // float32 entries near log 1e-30 are rounded by ~1e-6 each: a looser bar.
  const double table_tol = single_ ? 1e-4 : 1e-6;
  for (int64_t g = 0; g < G_; ++g) {
    check("log_weight", vec(weight), size_t(g * K_), 1, K_, 1e-6);
    for (int64_t d = 0; d < D_; ++d)
      for (int64_t k = 0; k < K_; ++k) check("log_table", at, table_index(g, d, 0) + size_t(k), size_t(K_), L_, table_tol);
  }
  label_log_prior_ = std::move(prior);
  log_weight_ = std::move(weight);
  log_table_ = std::move(table);
  log_table32_ = std::move(table32);
  tables_changed();
}

}  // namespace dgm
