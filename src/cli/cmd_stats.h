// cmd_stats.h — `dgm stats`: the empirical distribution of a dataset (counts,
// duplicates, entropy, support, most frequent samples, labels) and, for the
// validation / test splits, validity, novelty and coverage against train.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace dgm::cli {

struct StatsOptions {
  // Either a config (its "space" and "data" sections) ...
  std::string config;
  std::vector<std::string> overrides;  // --set key=value, applied in order
  // ... or one data source and its space.
  std::string data;
  std::string format;       // empty: inferred from the file name
  std::string shape_text;  // --shape as given: 28x28 or 28,28
  std::vector<int64_t> shape;
  int64_t levels = 0;
  int64_t labels = 0;       // number of label classes, 0 = none
  std::string labels_file;
  int64_t threshold = -1;   // binarise 8-bit values at this level; -1 = off
  bool variable_length = false;
  // Output.
  int64_t top = 5;
  bool json = false;
};

// Writes the figures to `out` (human-readable, or one JSON object), messages to
// `log`. Returns 0; errors are thrown as dgm exceptions.
int run_stats(const StatsOptions& options, std::ostream& out, std::ostream& log);

}  // namespace dgm::cli
