// model.cc — what all models share: the default completion and model creation
// from config sections through the registry table.
#include "dgm/model.h"

#include <algorithm>

#include "dgm/dataset.h"
#include "dgm/error.h"

namespace dgm {

Dataset Model::complete(const Dataset&, const std::vector<uint8_t>&, Rng&, const SampleOptions&) const {
  throw DataError("model '" + kind() + "' cannot complete partial samples");
}

std::vector<double> Model::label_log_prior() const {
  throw DataError("model '" + kind() + "' has no label distribution" +
                  (space_.has_labels() ? "" : std::string(" (its space has no labels)")));
}

void Model::export_to(const std::string& format, std::ostream&) const {
  std::string known;
  for (const auto& f : export_formats()) known += (known.empty() ? "" : ", ") + f;
  throw ConfigError("a '" + kind() + "' model cannot be exported as " + format +
                    (known.empty() ? " (it has no export formats)" : " (it exports: " + known + ")"));
}

void Model::position_log_probs(const DataView&, double*, ThreadPool&) const {
  throw DataError("model '" + kind() + "' has no per-position conditionals");
}

std::unique_ptr<Model> create_model_for_training(const json& cfg, const Space& space, std::shared_ptr<const Codec> codec,
                                                 uint64_t seed, const std::string& config_name, json* effective,
                                                 json* effective_model) {
  if (!cfg.contains("model"))
    throw ConfigError(config_name + ": missing section 'model' (e.g. {\"type\": \"mixture\"})");
  json model_section, train_section;
  std::unique_ptr<Model> model =
      create_model(space, cfg["model"], cfg.contains("train") ? cfg["train"] : json(), &model_section, &train_section);
  model->set_codec(std::move(codec));
  train_section["seed"] = seed;
  // When to checkpoint changes nothing in the model; the output path is where
  // the model goes, not what it is: neither is stored, so that the same
  // training gives the same bytes anywhere.
  train_section.erase("checkpoint_every");
  *effective = cfg;
  effective->erase("output");
  (*effective)["model"] = model_section;
  (*effective)["train"] = train_section;
  (*effective)["space"] = space.to_json();
  if (effective_model) *effective_model = std::move(model_section);
  return model;
}

Dataset draw_samples(const Model& model, size_t n, uint64_t seed, const SampleOptions& so) {
  Dataset all(model.space());
  for (uint64_t k = 0; k * kSeedChunk < n; ++k) {
    Rng rng(seed, k);
    all.append(model.sample(std::min(kSeedChunk, n - size_t(k * kSeedChunk)), rng, so));
  }
  return all;
}

json training_record(const std::vector<TrainProgress>& history, const TrainProgress& start, int64_t dims) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(); };
  json r;
  const TrainProgress* last = history.empty() ? nullptr : &history.back();
  r["unit"] = last ? last->unit : start.unit.empty() ? "step" : start.unit;
  r["steps"] = history.size();
  r["max_steps"] = last ? last->total : start.total;
  int64_t best = 0;
  bool any_valid = false, any_lr = false, any_restart = false;
  for (const auto& p : history) {
    if (p.best) best = p.step;
    any_valid |= !std::isnan(p.valid_nll);
    any_lr |= !std::isnan(p.learning_rate);
    any_restart |= p.restart > 0;
  }
  r["best_step"] = best;
  r["nll_unit"] = "nats per sample";
  if (dims > 0) r["dims"] = dims;
  json h;
  json& step = h["step"] = json::array();
  json& train = h["train_nll"] = json::array();
  json& best_col = h["best"] = json::array();
  for (const auto& p : history) {
    step.push_back(p.step);
    train.push_back(num(p.train_nll));
    best_col.push_back(p.best);
    if (any_valid) h["valid_nll"].push_back(num(p.valid_nll));
    if (any_lr) h["learning_rate"].push_back(num(p.learning_rate));
    if (any_restart) h["restart"].push_back(p.restart);
  }
  r["history"] = h;
  return r;
}

uint64_t Model::memory_bytes() const {
  const json d = describe();
  const auto it = d.find("parameters");
  if (it == d.end() || !it->is_number()) return 0;
  return uint64_t(std::max(0.0, it->get<double>()) * 16);
}

std::unique_ptr<Model> create_model(const Space& space, const json& model_cfg, const json& train_cfg,
                                    json* effective_model, json* effective_train) {
  ConfigSection m(model_cfg, "model");
  ConfigSection t(train_cfg, "train");
  std::string known;
  for (const auto& k : model_kinds()) known += (known.empty() ? "" : ", ") + std::string(k.name);
  const std::string type = m.get_string("type", "");
  if (type.empty()) throw ConfigError("model.type: missing (one of: " + known + ")");
  for (const auto& k : model_kinds()) {
    if (type != k.name) continue;
    // Keys every training section may carry, read by the caller.
    t.allow({"seed", "threads", "checkpoint_every"});
    std::unique_ptr<Model> model = k.create(space, m, t);
    m.finish();
    t.finish();
    // The one check of every kind's size, before fit() allocates it.
    const uint64_t need = model->memory_bytes(), budget = memory_budget();
    if (need > budget)
      throw ConfigError("model: '" + type + "' on " + space.describe() + " " + over_budget(need, budget) +
                        " for its parameters and training state; make it smaller");
    if (effective_model) *effective_model = m.effective();
    if (effective_train) *effective_train = t.effective();
    return model;
  }
  throw ConfigError("model.type: unknown model '" + type + "' (known: " + known + ")");
}

}  // namespace dgm
