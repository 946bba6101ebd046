// plot.cc — reading training curves (JSONL logs, model files) and drawing them
// with PLplot's cairo memory driver into an RGB buffer that the image writer
// saves (so the PNG is written like every other picture). PLplot keeps global
// state and exits the process on a fatal error, so everything it could fail on
// (a missing driver, empty or non-finite ranges) is checked before it is called.
#include "plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "dgm/error.h"
#include "dgm/io/image.h"
#include "dgm/model_file.h"

#ifdef DGM_HAVE_PLPLOT
#include <plplot/plplot.h>
#endif

namespace dgm::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number_at(const json& j, const char* key) {
  if (!j.contains(key) || !j.at(key).is_number()) return kNaN;
  return j.at(key).get<double>();
}

}  // namespace

TrainCurve curve_from_record(const json& record, const std::string& name) {
  TrainCurve c;
  c.name = name;
  try {
    c.unit = record.at("unit").get<std::string>();
    c.dims = record.contains("dims") ? record.at("dims").get<double>() : 0;
    const json& h = record.at("history");
    const json& step = h.at("step");
    auto col = [&](const char* key, size_t i) {
      return h.contains(key) && h.at(key).at(i).is_number() ? h.at(key).at(i).get<double>() : kNaN;
    };
    for (size_t i = 0; i < step.size(); ++i) {
      c.step.push_back(step.at(i).get<double>());
      c.train_nll.push_back(col("train_nll", i));
      c.valid_nll.push_back(col("valid_nll", i));
      c.learning_rate.push_back(col("learning_rate", i));
      c.restart.push_back(h.contains("restart") ? h.at("restart").at(i).get<int>() : 0);
      c.best.push_back(h.contains("best") && h.at("best").at(i).get<bool>());
    }
  } catch (const json::exception& e) {
    throw FormatError(name + ": bad training record: " + e.what());
  }
  return c;
}

TrainCurve read_curve(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  std::string head(16, '\0');
  in.read(&head[0], 16);
  head.resize(size_t(in.gcount()));
  if (head.rfind("dgm-model-v", 0) == 0) {
    const ModelReader r = ModelReader::open(path);
    if (!r.header().contains("training"))
      throw FormatError(path + ": model file holds no training record (written by a dgm before records, or "
                               "by a model trained without steps)");
    return curve_from_record(r.header().at("training"), path);
  }
  in.clear();
  in.seekg(0);
  TrainCurve c;
  c.name = path;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      throw FormatError(path + ":" + std::to_string(lineno) + ": not a JSON object (expected a 'dgm train --log' line)");
    }
    if (!j.is_object()) throw FormatError(path + ":" + std::to_string(lineno) + ": not a JSON object");
    std::string unit;
    for (const char* u : {"epoch", "iteration", "step"})
      if (j.contains(u) && j.at(u).is_number()) unit = u;
    if (unit.empty())
      throw FormatError(path + ":" + std::to_string(lineno) + ": no \"epoch\" or \"iteration\" (not a 'dgm train --log' file?)");
    c.unit = unit;
    c.step.push_back(j.at(unit).get<double>());
    c.train_nll.push_back(number_at(j, "train_nll"));
    c.valid_nll.push_back(number_at(j, "valid_nll"));
    c.learning_rate.push_back(number_at(j, "learning_rate"));
    c.restart.push_back(j.contains("restart") && j.at("restart").is_number_integer() ? j.at("restart").get<int>() : 0);
    c.best.push_back(j.contains("best") && j.at("best").is_boolean() && j.at("best").get<bool>());
    // D from the pair nats / bits-per-dim of the same step.
    const double nats = number_at(j, "train_nll"), bpd = number_at(j, "train_bits_per_dim");
    if (c.dims == 0 && std::isfinite(nats) && std::isfinite(bpd) && bpd > 0)
      c.dims = std::round(nats / (bpd * std::log(2.0)));
  }
  if (in.bad()) throw IoError(path + ": read error");
  if (c.step.empty()) throw FormatError(path + ": no training steps in the log");
  return c;
}

#ifndef DGM_HAVE_PLPLOT

bool plotting_available() { return false; }

void plot_curves(const std::vector<TrainCurve>&, const std::string& png_path, int, int) {
  throw Error(png_path + ": this dgm was built without PLplot (-DDGM_PLOT=OFF); install libplplot-dev and "
                         "plplot-driver-cairo (scripts/setup.sh) and rebuild to draw curves");
}

#else

bool plotting_available() { return true; }

namespace {

// Colour map 0: 0 background, 1 axes and text, 2 grid, then one colour a run.
constexpr int kAxis = 1, kGrid = 2, kFirstRun = 3;
constexpr int kPalette[][3] = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {148, 103, 189},
                               {255, 127, 14}, {140, 86, 75},  {227, 119, 194}, {23, 190, 207}};
constexpr int kRuns = int(sizeof kPalette / sizeof kPalette[0]);

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // Widens a degenerate range and adds a margin, so PLplot never gets lo == hi.
  void pad(double frac) {
    if (empty()) lo = 0, hi = 1;
    double w = hi - lo;
    if (w <= std::fabs(hi) * 1e-9 || w == 0) w = std::max(std::fabs(hi) * 0.05, 1e-3);
    lo -= w * frac;
    hi += w * frac;
  }
};

// Draws y over x as lines, broken at NaN and where the EM restart changes.
void draw_series(const TrainCurve& c, const std::vector<double>& y, bool log10y) {
  std::vector<PLFLT> xs, ys;
  auto flush = [&] {
    if (xs.size() >= 2) plline(PLINT(xs.size()), xs.data(), ys.data());
    else if (xs.size() == 1) plpoin(1, xs.data(), ys.data(), 1);
    xs.clear();
    ys.clear();
  };
  for (size_t i = 0; i < y.size(); ++i) {
    const double v = log10y ? (y[i] > 0 ? std::log10(y[i]) : kNaN) : y[i];
    if (i > 0 && c.restart[i] != c.restart[i - 1]) flush();
    if (!std::isfinite(v)) {
      flush();
      continue;
    }
    xs.push_back(c.step[i]);
    ys.push_back(v);
  }
  flush();
}

// The y range of the NLL panel: every finite value, except that the first
// steps of a curve (often far above the rest, e.g. EM's first iteration) may
// go off the top when later steps would otherwise be squeezed flat.
Range nll_range(const std::vector<TrainCurve>& curves, bool* clipped) {
  *clipped = false;
  Range all, tail;
  for (const auto& c : curves)
    for (size_t i = 0; i < c.step.size(); ++i) {
      all.add(c.train_nll[i]);
      all.add(c.valid_nll[i]);
      if (i >= std::min<size_t>(2, c.step.size() / 4)) {
        tail.add(c.train_nll[i]);
        tail.add(c.valid_nll[i]);
      }
    }
  if (tail.empty()) return all;
  // Clip the head only when it stretches the range more than threefold.
  if (!all.empty() && all.hi - all.lo > 3 * (tail.hi - tail.lo) && tail.hi > tail.lo) {
    tail.hi += 0.5 * (tail.hi - tail.lo);
    *clipped = true;
    return tail;
  }
  return all;
}

}  // namespace

void plot_curves(const std::vector<TrainCurve>& curves, const std::string& png_path, int width, int height) {
  if (curves.empty()) throw Error(png_path + ": no curves to draw");
  for (const auto& c : curves)
    if (c.step.empty()) throw FormatError(c.name + ": no training steps to draw");
  {
    // PLplot exits the process when a device is missing: look first.
    const char** menu = nullptr;
    const char** names = nullptr;
    std::vector<const char*> m(128), n(128);
    menu = m.data();
    names = n.data();
    int count = int(n.size());
    plgDevs(&menu, &names, &count);
    bool found = false;
    for (int i = 0; i < count; ++i) found |= std::string(names[i]) == "memcairo";
    if (!found)
      throw Error(png_path + ": PLplot's cairo driver is not installed (apt-get install plplot-driver-cairo)");
  }
  Range x, lr;
  for (const auto& c : curves)
    for (size_t i = 0; i < c.step.size(); ++i) {
      x.add(c.step[i]);
      if (c.learning_rate[i] > 0) lr.add(c.learning_rate[i]);
    }
  // The learning rate on a log scale when it spans more than a factor of 5
  // (a decay schedule), else linear (a log axis shorter than a decade has no
  // labelled tick).
  const bool lr_log = !lr.empty() && lr.hi > 5 * lr.lo;
  if (lr_log) lr.lo = std::log10(lr.lo), lr.hi = std::log10(lr.hi);
  if (x.lo == x.hi) x.lo -= 1, x.hi += 1;
  x.lo = std::min(x.lo, 0.0);
  x.hi += 0.02 * (x.hi - x.lo);  // room for the last step's marker
  bool clipped = false;
  Range y = nll_range(curves, &clipped);
  y.pad(0.04);
  const bool has_lr = !lr.empty();
  if (!lr_log && has_lr && lr.hi - lr.lo < 0.1 * lr.hi) {
    // A constant rate: a window of +-20% around it.
    const double mid = 0.5 * (lr.lo + lr.hi);
    lr.lo = mid * 0.8;
    lr.hi = mid * 1.2;
  }
  lr.pad(0.15);
  // Bits/dim on the right only when every run has the same D.
  double dims = curves[0].dims;
  for (const auto& c : curves)
    if (c.dims != dims) dims = 0;
  const std::string unit = curves[0].unit;
  bool same_unit = true;
  for (const auto& c : curves) same_unit &= c.unit == unit;

  std::vector<unsigned char> rgb(size_t(width) * size_t(height) * 3, 255);
  plsdev("memcairo");
  plsmem(width, height, rgb.data());
  plscmap0n(kFirstRun + kRuns);
  plscol0(0, 255, 255, 255);
  plscol0(kAxis, 40, 40, 40);
  plscol0(kGrid, 215, 215, 215);
  for (int r = 0; r < kRuns; ++r) plscol0(kFirstRun + r, kPalette[r][0], kPalette[r][1], kPalette[r][2]);
  plinit();
  pladv(0);
  plschr(0, 0.85);

  // Top panel: NLL per step.
  const double left = 0.09, right = 0.91, top = 0.93;
  const double nll_bottom = has_lr ? 0.36 : 0.1;
  plvpor(left, right, nll_bottom, top);
  plwind(x.lo, x.hi, y.lo, y.hi);
  plcol0(kGrid);
  pllsty(1);
  plbox("g", 0, 0, "g", 0, 0);
  plcol0(kAxis);
  plwidth(1.0);
  plbox(has_lr ? "bcst" : "bcnst", 0, 0, dims > 0 ? "bnstv" : "bcnstv", 0, 0);
  plmtex("l", 4.6, 0.5, 0.5, "NLL (nats per sample)");
  if (!has_lr) plmtex("b", 2.8, 0.5, 0.5, same_unit ? unit.c_str() : "step");
  std::string title = curves.size() == 1 ? "Training curve: " + curves[0].name : "Training curves";
  if (title.size() > 90) title = "..." + title.substr(title.size() - 87);
  plmtex("t", 1.2, 0.5, 0.5, title.c_str());

  if (clipped) {
    // Bottom left: where falling curves leave room.
    plschr(0, 0.7);
    plmtex("b", -1.3, 0.015, 0.0, "(the first steps are above the top)");
    plschr(0, 0.85);
  }
  std::vector<std::string> labels;
  std::vector<PLINT> colors, styles;
  for (size_t r = 0; r < curves.size(); ++r) {
    const TrainCurve& c = curves[r];
    const PLINT color = PLINT(kFirstRun + int(r) % kRuns);
    plcol0(color);
    plwidth(2.0);
    pllsty(1);
    draw_series(c, c.train_nll, false);
    const std::string prefix = curves.size() > 1 ? c.name + ": " : "";
    labels.push_back(prefix + "train");
    colors.push_back(color);
    styles.push_back(1);
    if (std::any_of(c.valid_nll.begin(), c.valid_nll.end(), [](double v) { return std::isfinite(v); })) {
      pllsty(2);
      draw_series(c, c.valid_nll, false);
      pllsty(1);
      labels.push_back(prefix + "validation");
      colors.push_back(color);
      styles.push_back(2);
      // The best step (the parameters kept): a circle on the validation curve.
      for (size_t i = c.step.size(); i-- > 0;)
        if (c.best[i] && std::isfinite(c.valid_nll[i])) {
          PLFLT bx = c.step[i], by = c.valid_nll[i];
          plwidth(1.5);
          plpoin(1, &bx, &by, 4);
          break;
        }
    }
  }
  plwidth(1.0);
  if (dims > 0) {
    // The same window in bits/dim: bpd = nats / (D ln 2).
    const double k = 1.0 / (dims * std::log(2.0));
    plwind(x.lo, x.hi, y.lo * k, y.hi * k);
    plcol0(kAxis);
    plbox("", 0, 0, "cmstv", 0, 0);
    plmtex("r", 4.2, 0.5, 0.5, "bits/dim");
    plwind(x.lo, x.hi, y.lo, y.hi);
  }

  // Legend (top right, inside).
  {
    const PLINT nl = PLINT(labels.size());
    std::vector<PLINT> opts(labels.size(), PL_LEGEND_LINE), zero(labels.size(), 0), text_colors(labels.size(), kAxis);
    std::vector<PLFLT> widths(labels.size(), 2.0), zf(labels.size(), 0.0);
    std::vector<const char*> text;
    for (const auto& l : labels) text.push_back(l.c_str());
    PLFLT lw, lh;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_TOP | PL_POSITION_INSIDE, 0.02, 0.03, 0.07, 0, kGrid, 1, 0, 0, nl,
             opts.data(), 1.0, 0.9, 2.0, 0.0, text_colors.data(), text.data(), nullptr, nullptr, nullptr, nullptr,
             colors.data(), styles.data(), widths.data(), nullptr, nullptr, nullptr, nullptr);
  }

  // Bottom panel: learning rate (log scale).
  if (has_lr) {
    plvpor(left, right, 0.1, 0.29);
    plwind(x.lo, x.hi, lr.lo, lr.hi);
    plcol0(kGrid);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(kAxis);
    plbox("bcnst", 0, 0, lr_log ? "bcnstlv" : "bcnstv", 0, 0);
    plmtex("l", 4.6, 0.5, 0.5, "learning rate");
    plmtex("b", 2.8, 0.5, 0.5, same_unit ? unit.c_str() : "step");
    for (size_t r = 0; r < curves.size(); ++r) {
      plcol0(PLINT(kFirstRun + int(r) % kRuns));
      plwidth(2.0);
      draw_series(curves[r], curves[r].learning_rate, lr_log);
    }
    plwidth(1.0);
  }
  plend();
  write_rgb_image(rgb.data(), width, height, png_path);
}

#endif

}  // namespace dgm::cli
