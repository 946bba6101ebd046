// cmd_train.cc — `dgm train --config FILE`: validates the whole config before
// reading any data, loads the splits, fits with progress, reports NLL in nats
// and bits/dim, and writes the model atomically. SIGINT stops training at the
// next step and saves the best parameters so far as <name>.partial.dgm.
#include "cmd_train.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "dgm/comm.h"
#include "dgm/distributed.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/io/text.h"
#include "dgm/models/ngram.h"
#include "dgm/metrics.h"
#include "dgm/model_file.h"
#include "monitor.h"

namespace dgm::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  if (g_interrupted.exchange(true)) {
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends at once
    std::raise(SIGINT);
  }
}

// "digits.dgm" -> "digits.partial.dgm".
std::string partial_path(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return path.substr(0, dot) + ".partial" + path.substr(dot);
  return path + ".partial";
}

json summary_json(const NllSummary& s) {
  json j;
  j["samples"] = s.samples;
  if (s.samples == 0) return j;
  j["nll_nats"] = std::isfinite(s.nats_per_sample) ? json(s.nats_per_sample) : json("inf");
  j["bits_per_dim"] = std::isfinite(s.bits_per_dim) ? json(s.bits_per_dim) : json("inf");
  if (s.zero_probability) j["zero_probability"] = s.zero_probability;
  return j;
}

void print_summary(std::ostream& log, const char* name, const NllSummary& s) {
  if (s.samples == 0) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %-10s %8zu samples  NLL %s nats/sample  %s bits/dim", name, s.samples,
                format_number(s.nats_per_sample, 6).c_str(), format_number(s.bits_per_dim, 5).c_str());
  log << buf;
  if (s.zero_probability) log << "  (" << s.zero_probability << " of probability zero)";
  log << "\n";
}

}  // namespace

namespace {

// Under mpirun, SIGTERM comes from the launcher ending the job because
// another rank failed, timed out or was killed: rank 0 says so in one line.
extern "C" void on_sigterm_root(int) {
  static const char msg[] =
      "dgm: error: ended by the MPI launcher: another process failed or was killed; the previous model file "
      "is left as it was\n";
  if (::write(2, msg, sizeof msg - 1) < 0) {}
  _exit(1);
}
extern "C" void on_sigterm_quiet(int) { _exit(1); }

// Worker threads when neither --threads nor train.threads says: all cores,
// shared among the ranks on this machine.
int default_threads() {
  long local = 1;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name)) local = std::max(1L, std::strtol(v, nullptr, 10));
  const long cores = std::max(1L, long(std::thread::hardware_concurrency()));
  return local > 1 ? int(std::max(1L, cores / local)) : 0;
}

int train_ranks(const TrainOptions& opts, Communicator& comm, std::ostream& log) {
  const int P = comm.size();
  const bool root = comm.rank() == 0;
  const bool quiet = opts.quiet || !root;  // only rank 0 writes messages, the log and the model
  json cfg = load_config(opts.config, opts.overrides);
  ConfigSection top(cfg, opts.config);
  top.allow({"space", "data", "model", "train"});
  const std::string config_output = top.get_string("output", "model.dgm");
  const std::string output = !opts.output.empty() ? opts.output : config_output;
  top.finish();

  // Text corpora: the vocabulary of the training data sets the space's levels,
  // so they are read first. Everything else is checked before reading data.
  const bool text = cfg.contains("data") && cfg["data"].is_object() && cfg["data"].value("format", "") == "text";
  std::unique_ptr<TextData> text_data;
  if (text)
    text_data = std::make_unique<TextData>(load_text_data(cfg["data"], cfg.contains("space") ? cfg["space"] : json(), comm));
  const Space space = text ? text_data->space : Space::from_json(cfg.contains("space") ? cfg["space"] : json());
  ConfigSection train_top(cfg.contains("train") ? cfg["train"] : json(), "train");
  const uint64_t seed = opts.seed >= 0 ? uint64_t(opts.seed) : uint64_t(train_top.get_int("seed", 1, 0, INT64_MAX));
  int threads = opts.threads > 0 ? opts.threads : int(train_top.get_int("threads", 0, 0, 1024));
  if (threads == 0 && P > 1) threads = default_threads();
  if (!cfg.contains("model")) throw ConfigError(opts.config + ": missing section 'model' (e.g. {\"type\": \"mixture\"})");
  json effective_model, effective_train;
  std::unique_ptr<Model> model =
      create_model(space, cfg["model"], cfg.contains("train") ? cfg["train"] : json(), &effective_model, &effective_train);
  effective_train["seed"] = seed;
  if (!cfg.contains("data")) throw ConfigError(opts.config + ": missing section 'data' (e.g. {\"train\": \"data.txt\"})");

  json effective = cfg;
  effective["model"] = effective_model;
  effective["train"] = effective_train;
  effective["space"] = space.to_json();
  // The output path is where the model goes, not what it is: it is left out
  // of the stored config so the same training gives the same bytes anywhere.
  effective.erase("output");
  if (!quiet) log << "dgm: config " << effective.dump() << "\n";

  DataSplits data;
  if (text) {
    TextModel* tm = dynamic_cast<TextModel*>(model.get());
    if (!tm) throw ConfigError(opts.config + ": model '" + model->kind() + "' does not read text; use \"type\": \"ngram\"");
    tm->set_codec(text_data->codec);
    data.train = std::move(text_data->train);
    data.validation = std::move(text_data->validation);
    data.test = std::move(text_data->test);
  } else {
    data = load_data(cfg["data"], space, seed, comm);
  }
  // Sizes over all ranks (each holds its shard).
  int64_t sizes[3] = {int64_t(data.train.size()), int64_t(data.validation.size()), int64_t(data.test.size())};
  if (P > 1) comm.sum(sizes, 3);
  if (sizes[0] == 0) throw DataError(opts.config + ": the training set is empty");
  if (!quiet) {
    log << "dgm: " << sizes[0] << " training, " << sizes[1] << " validation, " << sizes[2] << " test samples in "
        << space.describe();
    if (P > 1) log << ", shared out over " << P << " MPI processes";
    log << "\n";
  }

  ThreadPool pool(threads);
  Rng rng(seed);
  CliMonitor monitor(log, quiet, root ? opts.log : "");
  monitor.set_processes(P);
  g_interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  FitContext ctx{&pool, &rng, &monitor, &g_interrupted};
  if (P > 1) ctx.comm = &comm;
  try {
    model->fit(data.train, data.validation.empty() && sizes[1] == 0 ? nullptr : &data.validation, ctx);
  } catch (...) {
    std::signal(SIGINT, previous);
    throw;
  }
  std::signal(SIGINT, previous);
  monitor.finish();
  const double fit_seconds = monitor.seconds();
  const bool interrupted = P > 1 ? comm.any(g_interrupted.load()) : g_interrupted.load();

  NllSummary train_s = evaluate_nll(*model, data.train, pool, comm);
  NllSummary valid_s = evaluate_nll(*model, data.validation, pool, comm);
  NllSummary test_s = evaluate_nll(*model, data.test, pool, comm);

  json info;
  info["config"] = effective;
  info["data_fingerprint"] = Dataset::fingerprint_hex(distributed_fingerprint(comm, data.train));
  info["seed"] = seed;
  info["metrics"] = {{"train", summary_json(train_s)}, {"validation", summary_json(valid_s)}, {"test", summary_json(test_s)}};
  if (interrupted) info["partial"] = true;
  const std::string path = interrupted ? partial_path(output) : output;
  if (root) save_model(path, *model, info);

  if (!quiet) {
    if (interrupted) log << "dgm: interrupted: training stopped early; the best parameters so far are kept\n";
    {
      char t[64];
      std::snprintf(t, sizeof t, "%.2f", fit_seconds);
      log << "dgm: trained " << model->kind() << " in " << t << " s";
      if (P > 1) log << " on " << P << " MPI processes";
      log << "\n";
    }
    print_summary(log, "train", train_s);
    print_summary(log, "validation", valid_s);
    print_summary(log, "test", test_s);
    if (text && test_s.samples)
      log << "  test perplexity " << format_number(std::exp(test_s.bits_per_dim * std::log(2.0)), 6)
          << " per token (</s> included, OOVs as <unk>; see 'dgm eval' for the KenLM-style figures)\n";
    log << "dgm: model written to " << path << (interrupted ? " (partial)" : "") << "\n";
  }
  return interrupted ? 130 : 0;
}

}  // namespace

int run_train(const TrainOptions& opts, std::ostream& out, std::ostream& log) {
  (void)out;  // training writes a file, not data
  std::unique_ptr<Communicator> world;
  Communicator* comm = opts.comm;
  if (!comm) {
    world = world_communicator(opts.mpi_timeout);
    comm = world.get();
    if (comm->size() > 1) std::signal(SIGTERM, comm->rank() == 0 ? on_sigterm_root : on_sigterm_quiet);
  }
  try {
    return train_ranks(opts, *comm, log);
  } catch (const CollectiveError&) {
    // Every rank has this error: rank 0 reports it, the others leave quietly.
    if (comm->rank() != 0) comm->abandon("");
    throw;
  } catch (const std::exception& e) {
    // This rank alone failed; the others may be waiting for it.
    comm->abandon(e.what());
    throw;
  }
}

void add_train(CLI::App& app, Action& action) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "Fit a model to data as a config file describes, and save it");
  sub->add_option("-c,--config", opts->config, "JSON config: space, data, model, train, output")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", opts->output, "Model file to write [default: the config's \"output\", else model.dgm]");
  sub->add_option("-s,--seed", opts->seed, "Random seed [default: the config's train.seed, else 1]")
      ->check(CLI::Range(int64_t(0), INT64_MAX));
  sub->add_option("-t,--threads", opts->threads,
                  "Worker threads; results do not depend on it [default: train.threads, else all cores]")
      ->check(CLI::Range(1, 1024));
  sub->add_flag("-q,--quiet", opts->quiet, "No progress or summary on stderr");
  sub->add_option("--log", opts->log, "Write one JSON object per iteration/epoch to this file (JSONL)");
  sub->add_option("--set", opts->overrides, "Override a config value, e.g. --set model.components=20 (repeatable)")
      ->type_name("KEY=VALUE");
  sub->add_option("--mpi-timeout", opts->mpi_timeout,
                  "Under mpirun: seconds a process waits for the others before the job stops with an error")
      ->check(CLI::Range(1.0, 1e7))
      ->capture_default_str();
  sub->footer(
      "Examples:\n"
      "  dgm train --config configs/digits.json\n"
      "  dgm train -c configs/digits.json --set model.components=20 -o digits20.dgm\n"
      "  dgm train -c configs/fmnist-nade.json --log train.jsonl\n"
      "  mpirun -np 2 dgm train -c configs/fmnist-mixture.json -t 1   # data-parallel over MPI\n"
      "Ctrl-C stops at the next iteration and saves the best model so far as <output>.partial.dgm.\n"
      "Under mpirun (a build with MPI) each process reads its shard of the data and only rank 0\n"
      "writes the model, the log and the progress; the model is the one a single process trains.");
  sub->callback([opts, &action] { action = [opts] { return run_train(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
