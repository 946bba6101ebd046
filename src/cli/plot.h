// plot.h — training curves as a PNG, drawn with PLplot (its cairo memory
// driver) and written through the image writer: NLL per step in nats per
// sample (train solid, validation dashed, the best step marked), bits/dim on
// the right-hand axis, and the learning rate in a panel below. Several runs
// share one picture to be compared.
#pragma once

#include <string>
#include <vector>

#include "dgm/config.h"

namespace dgm::cli {

struct TrainCurve {
  std::string name;                 // legend label
  std::string unit = "step";        // "epoch" or "iteration"
  double dims = 0;                  // D of the space (bits/dim = nats / (D ln 2)); 0 unknown
  std::vector<double> step, train_nll, valid_nll, learning_rate;  // NaN where absent
  std::vector<int> restart;         // EM restart of each step (0: none); lines break between restarts
  std::vector<bool> best;
};

// The curve of a training record (a model file's "training" header).
TrainCurve curve_from_record(const json& record, const std::string& name);
// Reads a --log JSONL file, or a model file with a training record.
// IoError / FormatError name the file and line.
TrainCurve read_curve(const std::string& path);

// Draws the curves into a PNG of width x height pixels. Error when this dgm
// was built without PLplot or its cairo driver is not installed.
void plot_curves(const std::vector<TrainCurve>& curves, const std::string& png_path, int width = 1000,
                 int height = 640);

// Whether plotting works in this build (PLplot compiled in).
bool plotting_available();

}  // namespace dgm::cli
