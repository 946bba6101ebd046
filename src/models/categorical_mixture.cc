// categorical_mixture.cc — exact log-likelihood, sampling, completion and the
// model-file arrays of a (class-conditional) mixture of products of
// categoricals: log P(x|y) = log sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d),
// computed by D table-row additions over K and one log-sum-exp.
#include "dgm/models/categorical_mixture.h"

// GCC 12 reports false "may be used uninitialized" warnings inside its own
// AVX-512 intrinsics when Eigen's kernels are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>

#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model_file.h"

namespace dgm {
namespace {

constexpr size_t kScoreGrain = 256;  // samples per scoring chunk

// Draws i with probability proportional to exp(logp[i * stride] / temperature).
int64_t draw_tempered(const double* logp, size_t stride, int64_t n, double temperature, Rng& rng,
                      std::vector<double>& buf) {
  buf.resize(size_t(n));
  double m = kNegInf;
  for (int64_t i = 0; i < n; ++i) {
    buf[size_t(i)] = logp[size_t(i) * stride] / temperature;
    m = std::max(m, buf[size_t(i)]);
  }
  double sum = 0;
  for (auto& b : buf) sum += (b = std::exp(b - m));
  double u = rng.uniform() * sum;
  int64_t last = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (buf[size_t(i)] <= 0) continue;
    last = i;
    if (u < buf[size_t(i)]) return i;
    u -= buf[size_t(i)];
  }
  return last;  // rounding left u just past the end
}

}  // namespace

CategoricalMixtureBase::CategoricalMixtureBase(const Space& space, int64_t components, const char* kind_name)
    : Model(space) {
  if (space.variable_length())
    throw DataError(std::string("model '") + kind_name + "' needs fixed-length samples; space " + space.describe() +
                    " has variable-length sequences (use a sequence model)");
  G_ = std::max<int64_t>(1, space.labels());
  K_ = components;
  D_ = space.dims();
  L_ = space.levels();
  // Checked in double first: the product of four int64 may overflow.
  const double cells = double(G_) * double(K_) * double(D_) * double(L_);
  if (cells > double(kMaxTableSize))
    throw ConfigError(std::string("model: '") + kind_name + "' with " + std::to_string(K_) + " components on " +
                      space.describe() + " needs " + std::to_string(int64_t(cells)) + " table entries, more than " +
                      std::to_string(kMaxTableSize) + "; use fewer components");
  // The table and the EM statistics of the same size, in doubles.
  if (cells * 16 > double(memory_budget()))
    throw ConfigError(std::string("model: '") + kind_name + "' with " + std::to_string(K_) + " components on " +
                      space.describe() + " needs " + std::to_string(int64_t(cells * 16 / 1048576)) +
                      " MiB of parameters, more than the " + std::to_string(memory_budget() >> 20) +
                      " MiB of memory available; use fewer components");
  label_log_prior_.assign(size_t(G_), -std::log(double(G_)));
  log_weight_.assign(size_t(G_ * K_), -std::log(double(K_)));
  log_table_.assign(size_t(G_ * K_ * D_ * L_), -std::log(double(L_)));
}

int64_t CategoricalMixtureBase::num_parameters() const {
  return (G_ - 1) + G_ * (K_ - 1) + G_ * K_ * D_ * (L_ - 1);
}

void CategoricalMixtureBase::check_training_data(const Dataset& data, const char* what) const {
  if (data.space() != space_)
    throw DataError(std::string(what) + ": space " + data.space().describe() + " does not match the model's " +
                    space_.describe());
  if (space_.has_labels())
    for (size_t i = 0; i < data.size(); ++i)
      if (data.label(i) < 0)
        throw DataError(std::string(what) + ": sample " + std::to_string(i) + " has no label; model '" + kind() +
                        "' is class-conditional on this labeled space and trains on labeled samples only");
}

template <typename V>
double CategoricalMixtureBase::log_prob_group(int64_t g, const V* x, double* acc) const {
  const double* t = log_table_.data();
  if (K_ == 1) {
    double s = log_weight_[size_t(g)];
    for (int64_t d = 0; d < D_; ++d) s += t[table_index(g, d, int64_t(x[d]))];
    return s;
  }
  const double* w = &log_weight_[size_t(g * K_)];
  for (int64_t k = 0; k < K_; ++k) acc[k] = w[k];
  for (int64_t d = 0; d < D_; ++d) {
    const double* row = t + table_index(g, d, int64_t(x[d]));
    for (int64_t k = 0; k < K_; ++k) acc[k] += row[k];
  }
  return log_sum_exp(acc, K_);
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
  for (int64_t k = 0; k < K_; ++k) bias(k) = log_weight_[size_t(k)];
  bool finite = true;
  for (int64_t d = 0; d < D_; ++d)
    for (int64_t k = 0; k < K_; ++k) {
      const double t0 = log_table_[table_index(0, d, 0) + size_t(k)], t1 = log_table_[table_index(0, d, 1) + size_t(k)];
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

Dataset CategoricalMixtureBase::sample(size_t n, Rng& rng, const SampleOptions& opts) const {
  if (!(opts.temperature > 0) || !std::isfinite(opts.temperature))
    throw ConfigError("sample: temperature must be a positive number, got " + std::to_string(opts.temperature));
  if (opts.label >= 0 && !space_.has_labels())
    throw DataError("sample: label " + std::to_string(opts.label) + " given but the space " + space_.describe() +
                    " has no labels");
  space_.check_label(opts.label);
  Dataset out(space_);
  out.reserve(n);
  std::vector<int32_t> row(static_cast<size_t>(D_));
  std::vector<double> buf;
  for (size_t s = 0; s < n; ++s) {
    int64_t g = opts.label;
    if (g < 0) g = G_ > 1 ? draw_tempered(label_log_prior_.data(), 1, G_, 1.0, rng, buf) : 0;
    const int64_t k = K_ > 1 ? draw_tempered(&log_weight_[size_t(g * K_)], 1, K_, opts.temperature, rng, buf) : 0;
    for (int64_t d = 0; d < D_; ++d)
      row[size_t(d)] = int32_t(draw_tempered(&log_table_[table_index(g, d, 0) + size_t(k)], size_t(K_), L_,
                                             opts.temperature, rng, buf));
    out.push_back(row, space_.has_labels() ? int32_t(g) : -1);
  }
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
  Dataset out(space_);
  out.reserve(partial.size());
  std::vector<int32_t> row(static_cast<size_t>(D_));
  std::vector<double> post(size_t(G_ * K_)), buf;
  for (size_t i = 0; i < partial.size(); ++i) {
    partial.get(i, row.data());
    const uint8_t* kn = &known[i * size_t(D_)];
    int32_t y = space_.has_labels() ? partial.label(i) : 0;
    if (y < 0) y = opts.label;
    // Posterior over (group, component) pairs, flattened as g*K + k.
    for (int64_t g = 0; g < G_; ++g)
      for (int64_t k = 0; k < K_; ++k) {
        double lp = kNegInf;
        if (y < 0 || g == y) {
          lp = (y < 0 ? label_log_prior_[size_t(g)] : 0.0) + log_weight_[size_t(g * K_ + k)];
          for (int64_t d = 0; d < D_; ++d)
            if (kn[d]) lp += log_table_[table_index(g, d, row[size_t(d)]) + size_t(k)];
        }
        post[size_t(g * K_ + k)] = lp;
      }
    if (log_sum_exp(post.data(), G_ * K_) == kNegInf)
      throw DataError("complete: sample " + std::to_string(i) + " has known values of probability zero under the model");
    const int64_t gk = draw_tempered(post.data(), 1, G_ * K_, opts.temperature, rng, buf);
    const int64_t g = gk / K_, k = gk % K_;
    for (int64_t d = 0; d < D_; ++d)
      if (!kn[d])
        row[size_t(d)] = int32_t(draw_tempered(&log_table_[table_index(g, d, 0) + size_t(k)], size_t(K_), L_,
                                               opts.temperature, rng, buf));
    out.push_back(row, space_.has_labels() ? int32_t(g) : -1);
  }
  return out;
}

std::vector<double> CategoricalMixtureBase::label_log_prior() const {
  if (!space_.has_labels()) return Model::label_log_prior();
  return label_log_prior_;
}

void CategoricalMixtureBase::save(ModelWriter& w) const {
  w.add("label_log_prior", label_log_prior_.data(), {uint64_t(G_)});
  w.add("log_weight", log_weight_.data(), {uint64_t(G_), uint64_t(K_)});
  w.add("log_table", log_table_.data(), {uint64_t(G_), uint64_t(D_), uint64_t(L_), uint64_t(K_)});
}

void CategoricalMixtureBase::load(const ModelReader& r) {
  std::vector<double> prior(static_cast<size_t>(G_)), weight(size_t(G_ * K_)), table(log_table_.size());
  r.read("label_log_prior", prior.data(), {uint64_t(G_)});
  r.read("log_weight", weight.data(), {uint64_t(G_), uint64_t(K_)});
  r.read("log_table", table.data(), {uint64_t(G_), uint64_t(D_), uint64_t(L_), uint64_t(K_)});
  // Each distribution must be a normalised log-probability vector (no NaN, no +inf).
  auto check = [&](const char* name, const double* p, size_t stride, int64_t n) {
    double m = kNegInf, s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = p[size_t(i) * stride];
      if (std::isnan(v) || v > 0) throw FormatError(r.name() + ": array '" + name + "' holds a value that is not a log-probability");
      m = std::max(m, v);
    }
    for (int64_t i = 0; i < n; ++i) s += std::exp(p[size_t(i) * stride] - m);
    if (m == kNegInf || std::fabs(m + std::log(s)) > 1e-6)
      throw FormatError(r.name() + ": array '" + name + "' is not normalised");
  };
  check("label_log_prior", prior.data(), 1, G_);
  for (int64_t g = 0; g < G_; ++g) {
    check("log_weight", &weight[size_t(g * K_)], 1, K_);
    for (int64_t d = 0; d < D_; ++d)
      for (int64_t k = 0; k < K_; ++k) check("log_table", &table[table_index(g, d, 0) + size_t(k)], size_t(K_), L_);
  }
  label_log_prior_ = std::move(prior);
  log_weight_ = std::move(weight);
  log_table_ = std::move(table);
}

}  // namespace dgm
