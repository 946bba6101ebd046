// empirical.cc — the dataset's empirical distribution as a model: P(x) =
// (count(x) + alpha) / (N + alpha |X|), alpha = "smoothing" (default 0: the
// model that memorises, -inf for anything unseen). With labels it is
// class-conditional: P(x | y) = (count(x, y) + alpha) / (N_y + alpha |X|) and
// P(y) = N_y / N; sampling resamples the training data (or, with probability
// alpha|X| / (N_y + alpha|X|), draws a uniform point of X). The model file
// stores the distinct samples and their counts.
//
// Symbols: N samples, D positions, L labels, U distinct samples.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "dgm/distributed.h"
#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/empirical.h"
#include "dgm/stats.h"

namespace dgm {
namespace {

class EmpiricalModel : public Model {
 public:
  EmpiricalModel(const Space& space, ConfigSection& m) : Model(space), distinct_(space) {
    alpha_ = m.get_double("smoothing", 0.0, 0.0, 1e12);
  }

  std::string kind() const override { return "empirical"; }

  void fit(const Dataset& train, const Dataset*, const FitContext& ctx) override {
    Empirical emp(train);  // counts (x, y) pairs when the space has labels
    std::vector<size_t> rows;
    std::vector<int64_t> counts;
    for (const auto& e : emp.entries()) {
      rows.push_back(e.first_row);
      counts.push_back(e.count);
    }
    distinct_ = train.subset(rows);
    counts_ = std::move(counts);
    if (ctx.comm && ctx.comm->size() > 1) {
      // Every rank's distinct samples in rank order: their first occurrences
      // come in corpus order, so deduplicating them again gives the one-process
      // order; the counts add up.
      const Dataset all = gather_rows(*ctx.comm, distinct_);
      std::vector<int64_t> all_counts;
      for (const std::string& s : ctx.comm->all_gather(std::string(reinterpret_cast<const char*>(counts_.data()),
                                                                    counts_.size() * sizeof(int64_t)))) {
        const size_t k = all_counts.size();
        all_counts.resize(k + s.size() / sizeof(int64_t));
        std::memcpy(all_counts.data() + k, s.data(), s.size());
      }
      Empirical merged(all);
      rows.clear();
      counts_.assign(merged.entries().size(), 0);
      for (const auto& e : merged.entries()) rows.push_back(e.first_row);
      std::vector<int32_t> x;
      for (size_t i = 0; i < all.size(); ++i) {
        x = all.row(i);
        counts_[size_t(merged.index_of(x.data(), int64_t(x.size()), all.label(i)))] += all_counts[i];
      }
      distinct_ = all.subset(rows);
    }
    if (ctx.monitor) {
      TrainProgress p;
      p.step = p.total = 1;
      ctx.monitor->on_step(p);
    }
    index();
  }

  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override {
    const size_t chunk = 1024;
    pool.run(num_chunks(x.size(), chunk), [&](size_t c) {
      std::vector<int32_t> row(size_t(space_.dims()));
      for (size_t i = c * chunk; i < std::min(x.size(), (c + 1) * chunk); ++i) {
        row.resize(size_t(x.length(i)));
        x.get(i, row.data());
        out[i] = log_prob_one(row, x.label(i));
      }
    });
  }

  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts) const override {
    if (opts.temperature != 1.0) throw ConfigError("the empirical model has no temperature (use 1)");
    Dataset out(space_);
    std::vector<int32_t> x(size_t(space_.dims()));
    for (size_t s = 0; s < n; ++s) {
      int32_t y = opts.label;
      if (space_.has_labels() && y < 0) y = int32_t(draw(label_cum_, rng));
      const double n_y = space_.has_labels() ? double(label_total_[size_t(y)]) : double(total_);
      const double uniform_share = alpha_ > 0 ? std::exp(log_alpha_x_ - log_add(std::log(n_y), log_alpha_x_)) : 0.0;
      if (n_y == 0 || rng.uniform() < uniform_share) {
        out.push_back(uniform_point(rng), y);
      } else {
        const auto& cum = space_.has_labels() ? by_label_cum_[size_t(y)] : cum_;
        const auto& rows = space_.has_labels() ? by_label_rows_[size_t(y)] : all_rows_;
        const size_t r = rows[draw(cum, rng)];
        out.push_back(distinct_.row(r), space_.has_labels() ? y : -1);
      }
    }
    return out;
  }

  Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                   const SampleOptions& opts) const override {
    if (space_.variable_length()) return Model::complete(partial, known, rng, opts);
    const size_t D = size_t(space_.dims());
    Dataset out(space_);
    for (size_t i = 0; i < partial.size(); ++i) {
      const uint8_t* k = &known[i * D];
      std::vector<int32_t> x = partial.row(i);
      const int32_t y = opts.label >= 0 ? opts.label : partial.label(i);
      // P(completion c | known) ∝ count(known, c) + alpha: matching rows by
      // count, or a uniform completion with the alpha share.
      std::vector<size_t> rows;
      std::vector<double> cum;
      double mass = 0;
      for (size_t r = 0; r < distinct_.size(); ++r) {
        if (y >= 0 && distinct_.label(r) != y) continue;
        bool match = true;
        for (size_t d = 0; d < D && match; ++d) match = !k[d] || distinct_.at(r, int64_t(d)) == x[d];
        if (!match) continue;
        mass += double(counts_[r]);
        rows.push_back(r);
        cum.push_back(mass);
      }
      size_t unknown = 0;
      for (size_t d = 0; d < D; ++d) unknown += !k[d];
      const double log_uniform = alpha_ > 0 ? std::log(alpha_) + double(unknown) * std::log(double(space_.levels())) : kNegInf;
      const double uniform_share = mass > 0 ? std::exp(log_uniform - log_add(std::log(mass), log_uniform)) : 1.0;
      if (rows.empty() && alpha_ == 0)
        throw DataError("partial sample " + std::to_string(i + 1) + " matches no training sample (smoothing is 0)");
      if (rows.empty() || rng.uniform() < uniform_share) {
        for (size_t d = 0; d < D; ++d)
          if (!k[d]) x[d] = int32_t(rng.below(uint64_t(space_.levels())));
      } else {
        const size_t r = rows[draw(cum, rng)];
        x = distinct_.row(r);
      }
      out.push_back(x, space_.has_labels() ? y : -1);
    }
    return out;
  }

  void save(ModelWriter& w) const override {
    add_dataset(w, "distinct", distinct_);
    w.add("counts", counts_);
  }

  void load(const ModelReader& r) override {
    distinct_ = read_dataset_arrays(r, "distinct", space_);
    counts_ = r.read_vector<int64_t>("counts", distinct_.size());
    if (counts_.size() != distinct_.size()) throw FormatError(r.name() + ": 'counts' does not match 'distinct'");
    int64_t total = 0;
    for (int64_t c : counts_) {
      if (c <= 0) throw FormatError(r.name() + ": 'counts' holds a count below 1");
      if (c > (int64_t(1) << 62) - total) throw FormatError(r.name() + ": 'counts' add up past 2^62");
      total += c;
    }
    index();
    if (lookup_->num_distinct() != distinct_.size())
      throw FormatError(r.name() + ": 'distinct' holds a sample twice");
  }

  // log P(y) = log N_y / N.
  std::vector<double> label_log_prior() const override {
    if (!space_.has_labels()) return Model::label_log_prior();
    std::vector<double> lp(size_t(space_.labels()));
    for (size_t y = 0; y < lp.size(); ++y)
      lp[y] = label_total_[y] > 0 ? std::log(double(label_total_[y]) / double(total_)) : kNegInf;
    return lp;
  }

  json describe() const override {
    return {{"smoothing", alpha_}, {"samples", total_}, {"distinct", distinct_.size()}};
  }

 private:
  static size_t draw(const std::vector<double>& cum, Rng& rng) {
    const double u = rng.uniform() * cum.back();
    return size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
  }

  std::vector<int32_t> uniform_point(Rng& rng) const {
    int64_t len = space_.dims();
    if (space_.variable_length()) {
      // Length t has I^t sequences: P(t) ∝ I^t, drawn in log space.
      const double li = std::log(double(space_.levels()));
      const double u = std::log(rng.uniform() + 1e-300) + log_size_values_;
      double acc = kNegInf;
      for (len = 0; len < space_.dims(); ++len) {
        acc = log_add(acc, double(len) * li);
        if (u < acc) break;
      }
    }
    std::vector<int32_t> x(static_cast<size_t>(len), 0);
    for (auto& v : x) v = int32_t(rng.below(uint64_t(space_.levels())));
    return x;
  }

  // Lookup table, cumulative counts and per-label totals, from distinct_ and counts_.
  void index() {
    lookup_ = std::make_unique<Empirical>(distinct_);
    total_ = 0;
    cum_.clear();
    all_rows_.clear();
    const size_t L = size_t(space_.labels());
    label_total_.assign(L, 0);
    by_label_cum_.assign(L, {});
    by_label_rows_.assign(L, {});
    for (size_t r = 0; r < distinct_.size(); ++r) {
      total_ += counts_[r];
      cum_.push_back(double(total_));
      all_rows_.push_back(r);
      if (L) {
        const size_t y = size_t(distinct_.label(r));
        label_total_[y] += counts_[r];
        by_label_cum_[y].push_back(double(label_total_[y]));
        by_label_rows_[y].push_back(r);
      }
    }
    label_cum_.clear();
    double acc = 0;
    for (size_t y = 0; y < L; ++y) label_cum_.push_back(acc += double(label_total_[y]));
    // log(alpha |X_values|): X without the label.
    double log2_values = space_.log2_size() - (space_.has_labels() ? std::log2(double(space_.labels())) : 0.0);
    log_size_values_ = log2_values * std::log(2.0);
    log_alpha_x_ = alpha_ > 0 ? std::log(alpha_) + log_size_values_ : kNegInf;
  }

  double count_of(const std::vector<int32_t>& x, int32_t y) const {
    const int64_t k = lookup_->index_of(x.data(), int64_t(x.size()), y);
    return k < 0 ? 0.0 : double(counts_[size_t(k)]);
  }

  // log P(x | y) for a known label, or log P(x) for label -1.
  double log_prob_one(const std::vector<int32_t>& x, int32_t y) const {
    const double log_alpha = alpha_ > 0 ? std::log(alpha_) : kNegInf;
    if (!space_.has_labels()) {
      return log_add(count_of(x, -1) > 0 ? std::log(count_of(x, -1)) : kNegInf, log_alpha) -
             log_add(std::log(double(total_)), log_alpha_x_);
    }
    auto conditional = [&](int32_t label) {
      const double c = count_of(x, label);
      const double n_y = double(label_total_[size_t(label)]);
      const double num = log_add(c > 0 ? std::log(c) : kNegInf, log_alpha);
      const double den = log_add(n_y > 0 ? std::log(n_y) : kNegInf, log_alpha_x_);
      return den == kNegInf ? kNegInf : num - den;
    };
    if (y >= 0) return conditional(y);
    double acc = kNegInf;
    for (int32_t l = 0; l < int32_t(space_.labels()); ++l) {
      if (label_total_[size_t(l)] == 0) continue;
      acc = log_add(acc, std::log(double(label_total_[size_t(l)]) / double(total_)) + conditional(l));
    }
    return acc;
  }

  double alpha_ = 0;
  Dataset distinct_;             // (U) distinct samples with their labels
  std::vector<int64_t> counts_;  // (U)
  std::unique_ptr<Empirical> lookup_;
  int64_t total_ = 0;                         // N
  std::vector<double> cum_;                   // (U) cumulative counts
  std::vector<size_t> all_rows_;              // (U)
  std::vector<int64_t> label_total_;          // (L) N_y
  std::vector<double> label_cum_;             // (L)
  std::vector<std::vector<double>> by_label_cum_;
  std::vector<std::vector<size_t>> by_label_rows_;
  double log_size_values_ = 0, log_alpha_x_ = kNegInf;
};

}  // namespace

std::unique_ptr<Model> create_empirical_model(const Space& space, ConfigSection& m, ConfigSection&) {
  return std::make_unique<EmpiricalModel>(space, m);
}

}  // namespace dgm
