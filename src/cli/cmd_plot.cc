// cmd_plot.cc — `dgm plot LOG... -o curve.png`: training curves from --log
// JSONL files or model files (their training record), several runs in one
// picture (see plot.h for what is drawn).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "dgm/error.h"
#include "plot.h"

namespace dgm::cli {

struct PlotOptions {
  std::vector<std::string> inputs;
  std::string output;
  int width = 1000, height = 640;
};

int run_plot(const PlotOptions& opts, std::ostream&, std::ostream& log) {
  std::vector<TrainCurve> curves;
  for (const auto& in : opts.inputs) curves.push_back(read_curve(in));
  plot_curves(curves, opts.output, opts.width, opts.height);
  log << "dgm: drew " << curves.size() << (curves.size() == 1 ? " curve" : " curves") << " to " << opts.output << "\n";
  return 0;
}

void add_plot(CLI::App& app, Action& action) {
  auto opts = std::make_shared<PlotOptions>();
  CLI::App* sub = app.add_subcommand("plot", "Draw training curves (NLL per step, bits/dim, learning rate) as a PNG");
  sub->add_option("inputs", opts->inputs, "Training logs (dgm train --log FILE) or model files; one curve each")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", opts->output, "PNG file to write")->required();
  sub->add_option("--width", opts->width, "Width in pixels")->capture_default_str()->check(CLI::Range(200, 8000));
  sub->add_option("--height", opts->height, "Height in pixels")->capture_default_str()->check(CLI::Range(150, 8000));
  sub->footer(
      "Draws train (solid) and validation (dashed) NLL per epoch or EM iteration in nats per sample, with\n"
      "bits/dim on the right-hand axis and the learning rate in a panel below; a circle marks the best\n"
      "step (the parameters kept). Each input is one run in its own colour.\n"
      "Examples:\n"
      "  dgm train -c configs/fmnist-nade.json --log nade.jsonl && dgm plot nade.jsonl -o nade.png\n"
      "  dgm plot made.jsonl nade.jsonl -o compare.png\n"
      "  dgm plot fmnist-nade.dgm -o curve.png   # the record stored in the model file");
  sub->callback([opts, &action] { action = [opts] { return run_plot(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
