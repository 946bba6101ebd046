// cmd_train.cc — `dgm train --config FILE`: validates the whole config before
// reading any data, loads the splits, fits with progress, reports NLL in nats
// and bits/dim, and writes the model atomically with its training record.
// Checkpoints (train.checkpoint_every, and SIGINT) go to <output>.partial.dgm:
// a usable model (the best parameters so far) that also holds the training
// state; `--resume` continues from one after checking that config, data and
// dgm version are the ones it was written with.
#include "cmd_train.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/comm.h"
#include "dgm/distributed.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/read.h"
#include "dgm/logmath.h"
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

// "digits.dgm" -> "digits.partial.dgm". Any output name the filesystem takes
// has a checkpoint name: a stem too long for NAME_MAX with ".partial" added
// is shortened (at a UTF-8 character boundary), and the log names the file.
std::string partial_path(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || dot < base) dot = path.size();
  std::string stem = path.substr(base, dot - base), ext = path.substr(dot);
  constexpr size_t kNameMax = NAME_MAX, kInsert = 8;  // ".partial"
  if (ext.size() + kInsert >= kNameMax) {            // an "extension" that long is part of the name
    stem += ext;
    ext.clear();
  }
  if (stem.size() + ext.size() + kInsert > kNameMax) {
    stem.resize(kNameMax - ext.size() - kInsert);
    while (!stem.empty() && (uint8_t(stem.back()) & 0xc0) == 0x80) stem.pop_back();  // continuation bytes
    if (!stem.empty() && uint8_t(stem.back()) >= 0xc0) stem.pop_back();               // a lead byte
  }
  return path.substr(0, base) + stem + ".partial" + ext;
}

// The inverse: "digits.partial.dgm" -> "digits.dgm" (a checkpoint renamed
// otherwise keeps its name, with ".final" before the extension).
std::string output_for_checkpoint(const std::string& ckpt) {
  const size_t slash = ckpt.find_last_of('/');
  const size_t at = ckpt.rfind(".partial");
  if (at != std::string::npos && (slash == std::string::npos || at > slash))
    return ckpt.substr(0, at) + ckpt.substr(at + 8);
  const size_t dot = ckpt.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return ckpt.substr(0, dot) + ".final" + ckpt.substr(dot);
  return ckpt + ".final";
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// train.checkpoint_every: N (epochs or EM iterations), "30s", "10min", "2h",
// or "off". Read here, not by the models: it changes when state is saved,
// never the model, so it is not part of the stored config.
struct CheckpointPolicy {
  int64_t steps = 0;     // every this many steps; 0 = not by steps
  double seconds = 0;    // every this many seconds; 0 = not by time
  std::string text;      // as given, for messages and the checkpoint header
};

CheckpointPolicy read_checkpoint_policy(const json& v) {
  CheckpointPolicy p;
  const char* help = "train.checkpoint_every: expected a number of epochs/iterations (e.g. 5), a time "
                     "(\"30s\", \"10min\", \"2h\") or \"off\"";
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 1) throw ConfigError(std::string(help) + ", got " + v.dump());
    p.steps = v.get<int64_t>();
    p.text = "every " + std::to_string(p.steps) + (p.steps == 1 ? " epoch/iteration" : " epochs/iterations");
    return p;
  }
  if (!v.is_string()) throw ConfigError(std::string(help) + ", got " + v.dump());
  const std::string s = v.get<std::string>();
  p.text = s;
  if (s == "off") return p;
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(s, &used);
  } catch (const std::exception&) {
    throw ConfigError(std::string(help) + ", got \"" + s + "\"");
  }
  std::string unit = s.substr(used);
  while (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  double scale = 0;
  if (unit == "s" || unit == "sec" || unit == "seconds") scale = 1;
  else if (unit == "min" || unit == "m" || unit == "minutes") scale = 60;
  else if (unit == "h" || unit == "hours") scale = 3600;
  if (scale == 0 || !(x > 0) || !std::isfinite(x)) throw ConfigError(std::string(help) + ", got \"" + s + "\"");
  p.seconds = x * scale;
  p.text = "every " + s;
  return p;
}

// The first differences between two configs, as "key: A there, B here".
void config_differences(const json& a, const json& b, const std::string& prefix, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (!b.contains(it.key())) out.push_back(key + ": " + it.value().dump() + " in the checkpoint, absent here");
      else config_differences(it.value(), b.at(it.key()), key, out);
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key()))
        out.push_back((prefix.empty() ? it.key() : prefix + "." + it.key()) + ": absent in the checkpoint, " +
                      it.value().dump() + " here");
    return;
  }
  if (a != b) out.push_back(prefix + ": " + a.dump() + " in the checkpoint, " + b.dump() + " here");
}

// Writes <output>.partial.dgm when the loop says a checkpoint is due: the
// model (best parameters so far), the training state, and the header of the
// final model file with the record so far.
class CliCheckpointer : public Checkpointer {
 public:
  CliCheckpointer(const Model& model, CliMonitor& monitor, const CheckpointPolicy& policy, std::string path,
                  json info, bool quiet)
      : model_(model), monitor_(monitor), policy_(policy), path_(std::move(path)), info_(std::move(info)),
        quiet_(quiet), last_(std::chrono::steady_clock::now()) {}

  bool due(int64_t steps_done, bool step_end) override {
    if (policy_.steps > 0 && step_end && steps_done > 0 && steps_done % policy_.steps == 0 &&
        steps_done != last_steps_)
      return true;
    return policy_.seconds > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= policy_.seconds;
  }

  void save(const TrainState& state) override {
    json info = info_;
    info["partial"] = true;
    info["training"] = monitor_.record(true);
    info["checkpoint"]["every"] = policy_.text;
    save_model(path_, model_, info, &state);
    last_ = std::chrono::steady_clock::now();
    last_steps_ = state.steps_done;
    saved_ = true;
    stop_saved_ = stop_saved_ || g_interrupted.load();
    position_ = state.position;
    ++count_;
    // Said at most once a minute (step-based checkpoints can come faster).
    const auto now = std::chrono::steady_clock::now();
    if (!quiet_ && !g_interrupted.load() &&
        (count_ == 1 || std::chrono::duration<double>(now - last_said_).count() >= 60)) {
      monitor_.message("checkpoint at " + state.position + " written to " + path_);
      last_said_ = now;
    }
  }

  bool saved() const { return saved_; }
  // A checkpoint was saved because of Ctrl-C.
  bool saved_on_stop() const { return stop_saved_; }
  // Where the last checkpoint was taken.
  const std::string& position() const { return position_; }

 private:
  const Model& model_;
  CliMonitor& monitor_;
  CheckpointPolicy policy_;
  std::string path_, position_;
  json info_;
  bool quiet_;
  std::chrono::steady_clock::time_point last_, last_said_;
  int64_t last_steps_ = -1, count_ = 0;
  bool saved_ = false, stop_saved_ = false;
};

void print_summary(std::ostream& log, const char* name, const NllSummary& s) {
  if (s.samples == 0) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %-10s %8zu samples  NLL %s nats/sample  %s bits/dim", name, s.samples,
                format_number(s.nats_per_sample, 6).c_str(), format_number(s.bits_per_dim, 5).c_str());
  log << buf;
  if (s.zero_probability) log << "  (" << s.zero_probability << " of probability zero)";
  log << "\n";
}

// One line of what is being trained: the model and its main sizes, the
// space, the data (sizes over all ranks) and the run's settings (the whole
// config with -v).
std::string summary_line(const Model& model, const json& effective_model, const Space& space, const json& data,
                         const int64_t sizes[3], uint64_t seed, int threads) {
  std::string m = model.kind();
  std::string params;
  for (auto it = effective_model.begin(); it != effective_model.end(); ++it) {
    if (it.key() == "type") continue;
    if (params.size() > 60) {
      params += ", ...";
      break;
    }
    params += (params.empty() ? "" : ", ") + it.key() + " " + it.value().dump();
  }
  if (!params.empty()) m += " (" + params + ")";
  std::string train = data.contains("train") ? (data["train"].is_string() ? data["train"].get<std::string>()
                                                                          : data["train"].value("path", "")) : "";
  std::string s = "dgm: training " + m + " on " + space.describe() + " from " + train + ": " +
                  std::to_string(sizes[0]) + " train, " + std::to_string(sizes[1]) + " validation, " +
                  std::to_string(sizes[2]) + " test; seed " + std::to_string(seed) + ", " +
                  std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  return s;
}

// Under mpirun, SIGTERM comes from the launcher ending the job because
// another rank failed, timed out or was killed: rank 0 says so in one line.
extern "C" void on_sigterm_root(int) {
  static const char msg[] =
      "dgm: error: ended by the MPI launcher: another process failed or was killed; the previous model file "
      "is left as it was\n";
  if (::write(2, msg, sizeof msg - 1) < 0) {
  }
  _exit(1);
}
extern "C" void on_sigterm_quiet(int) { _exit(1); }

// Worker threads when neither --threads nor train.threads says, under an MPI
// launcher: the cores shared among the ranks on this machine.
int default_threads_per_rank() {
  long local = 1;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name)) local = std::max(1L, std::strtol(v, nullptr, 10));
  const long cores = std::max(1L, long(std::thread::hardware_concurrency()));
  return local > 1 ? int(std::max(1L, cores / local)) : 0;
}

// A file's bytes read by rank 0 and given to every rank (so that the other
// ranks need not see rank 0's disk). Collective; errors agreed.
std::string bytes_from_rank0(Communicator& comm, const std::string& path) {
  return comm.gather_checked([&] {
           if (comm.rank() != 0) return std::string();
           std::ifstream in(path, std::ios::binary);
           if (!in) throw IoError(path + ": cannot open");
           std::ostringstream ss;
           ss << in.rdbuf();
           if (in.bad()) throw IoError(path + ": read error");
           return ss.str();
         })
      .front();
}

int train_ranks(const TrainOptions& opts, Communicator& comm, std::ostream& out, std::ostream& log_stream);

}  // namespace

int run_train(const TrainOptions& opts, std::ostream& out, std::ostream& log) {
  std::unique_ptr<Communicator> world;
  Communicator* comm = opts.comm;
  if (!comm) {
    world = world_communicator(opts.mpi_timeout);
    comm = world.get();
    if (comm->size() > 1) std::signal(SIGTERM, comm->rank() == 0 ? on_sigterm_root : on_sigterm_quiet);
  }
  try {
    return train_ranks(opts, *comm, out, log);
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

namespace {

// One rank's training: every rank reads its shards and fits the same model;
// only rank 0 prints, logs, checkpoints and writes the model.
int train_ranks(const TrainOptions& opts, Communicator& comm, std::ostream& out, std::ostream& log_stream) {
  const int P = comm.size();
  const bool root = comm.rank() == 0;
  std::ostringstream elsewhere;  // the other ranks' messages go nowhere
  std::ostream& log = root ? log_stream : elsewhere;
  const bool quiet = opts.quiet || !root;
  if (opts.config.empty() && opts.resume.empty())
    throw ConfigError("dgm train needs --config FILE, or --resume CHECKPOINT to continue a run");

  // A resumed run: the checkpoint, its config (unless --config is given, which
  // must then be the same), its version.
  std::unique_ptr<ModelReader> ckpt;
  json cfg;
  std::string config_name = opts.config;
  if (!opts.resume.empty()) {
    ckpt = std::make_unique<ModelReader>(P > 1 ? ModelReader::parse(bytes_from_rank0(comm, opts.resume), opts.resume)
                                               : ModelReader::open(opts.resume));
    const json& h = ckpt->header();
    if (!has_train_state(*ckpt))
      throw FormatError(opts.resume + ": holds no training state to resume from: it is a finished model, or "
                        "was written by a dgm before checkpoints; train again with --config");
    const std::string version = h.value("dgm_version", std::string("?"));
    if (version != DGM_VERSION)
      throw ConfigError(opts.resume + ": written by dgm " + version + ", this is dgm " + DGM_VERSION +
                        "; resume it with dgm " + version + ", or start over with --config");
    if (!h.contains("config") || !h.at("config").is_object())
      throw FormatError(opts.resume + ": checkpoint has no config");
    if (opts.config.empty()) {
      cfg = h.at("config");
      config_name = opts.resume;
      // The checkpoint policy is not part of the config: carry it on.
      if (h.contains("checkpoint") && h.at("checkpoint").contains("every_value"))
        cfg["train"]["checkpoint_every"] = h.at("checkpoint").at("every_value");
      apply_overrides(cfg, opts.overrides);
    }
  }
  if (cfg.is_null()) {
    cfg = load_config(opts.config, opts.overrides);
    config_name = input_name(opts.config);
  }
  ConfigSection top(cfg, config_name);
  top.allow({"space", "data", "model", "train"});
  const std::string config_output = top.get_string("output", "model.dgm");
  const std::string output = !opts.output.empty() ? opts.output
                             : ckpt                ? output_for_checkpoint(opts.resume)
                                                   : config_output;
  top.finish();
  if (output == "-" && &out == &std::cout && isatty(1) == 1)
    throw UsageError("--output -: the model is binary; redirect stdout to a file or a pipe");

  // The codec (a text vocabulary) may set the space, so it is fitted first;
  // everything else is checked before the splits are read.
  if (!cfg.contains("data")) throw ConfigError(config_name + ": missing section 'data' (e.g. {\"train\": \"data.txt\"})");
  Space space;
  std::shared_ptr<const Codec> codec =
      fit_codec(cfg["data"], cfg.contains("space") ? cfg["space"] : json(), &space, &comm);
  ConfigSection train_top(cfg.contains("train") ? cfg["train"] : json(), "train");
  const uint64_t seed = opts.seed >= 0 ? uint64_t(opts.seed) : uint64_t(train_top.get_int("seed", 1, 0, INT64_MAX));
  int threads = opts.threads > 0 ? opts.threads : int(train_top.get_int("threads", 0, 0, 1024));
  if (threads == 0 && P > 1) threads = default_threads_per_rank();
  const json every = train_top.has("checkpoint_every") ? train_top.get_json("checkpoint_every") : json("10min");
  const CheckpointPolicy policy = read_checkpoint_policy(every);
  json effective, effective_model;
  std::unique_ptr<Model> model =
      create_model_for_training(cfg, space, codec, seed, config_name, &effective, &effective_model);
  if (ckpt) {
    std::vector<std::string> diff;
    config_differences(ckpt->header().at("config"), effective, "", diff);
    if (!diff.empty()) {
      std::string list;
      for (size_t i = 0; i < diff.size() && i < 3; ++i) list += (i ? "; " : "") + diff[i];
      if (diff.size() > 3) list += "; and " + std::to_string(diff.size() - 3) + " more";
      throw ConfigError(opts.resume + ": the checkpoint was written with another config (" + list +
                        "); resume with the config it was started with, or start over without --resume");
    }
  }
  if (opts.verbose) log << "dgm: config " << effective.dump() << "\n";

  // Each rank holds its shard of every split; sizes and fingerprints are of
  // the whole splits.
  DataSplits data = load_data(cfg["data"], space, seed, codec.get(), comm);
  int64_t sizes[3] = {int64_t(data.train.size()), int64_t(data.validation.size()), int64_t(data.test.size())};
  comm.sum(sizes, 3);
  if (sizes[0] == 0) throw DataError(config_name + ": the training set is empty");
  ThreadPool pool(threads);
  if (!quiet) {
    log << summary_line(*model, effective_model, space, cfg["data"], sizes, seed, pool.size());
    if (P > 1) log << " in each of " << P << " MPI processes";
    log << "\n";
  }
  const std::string train_fp = Dataset::fingerprint_hex(distributed_fingerprint(comm, data.train)),
                    valid_fp = Dataset::fingerprint_hex(distributed_fingerprint(comm, data.validation));
  TrainState resume_state;
  if (ckpt) {
    const json& h = ckpt->header();
    const std::string ck_train = h.value("data_fingerprint", std::string()),
                      ck_valid = h.contains("checkpoint") ? h.at("checkpoint").value("validation_fingerprint", std::string())
                                                          : std::string();
    auto refuse = [&](const char* split, const std::string& then, const std::string& now) {
      throw DataError(opts.resume + ": the " + split + " data differ from the checkpoint's (fingerprint " + then +
                      " then, " + now + " now): the data files changed since the run started; resume with the "
                      "same data, or start over without --resume");
    };
    if (ck_train != train_fp) refuse("training", ck_train, train_fp);
    if (ck_valid != valid_fp) refuse("validation", ck_valid, valid_fp);
    resume_state = read_train_state(*ckpt);
  }
  // Checkpoints go beside the output (none when the model goes to stdout).
  const bool to_stdout = output == "-";
  const std::string partial = to_stdout ? std::string() : partial_path(output);

  Rng rng(seed);
  MonitorOptions mo;
  mo.quiet = quiet;
  mo.log_path = root ? opts.log : "";
  mo.plot_path = root ? opts.plot : "";
  mo.progress_seconds = opts.progress_seconds;
  mo.dims = space.variable_length() ? 0 : space.dims();
  mo.threads = int(pool.size());
  CliMonitor monitor(log, mo);
  monitor.set_processes(P);
  if (ckpt && ckpt->header().contains("training")) monitor.resume_from(ckpt->header().at("training"));

  json info;
  info["config"] = effective;
  info["data_fingerprint"] = train_fp;
  info["seed"] = seed;
  json ck_info = info;
  ck_info["checkpoint"] = {{"validation_fingerprint", valid_fp}, {"every_value", every}};
  CliCheckpointer checkpointer(*model, monitor, policy, partial, ck_info, quiet);
  if (!quiet) {
    if (ckpt)
      log << "dgm: resuming from " << opts.resume << " at " << resume_state.position << "; the model goes to "
          << output << "\n";
    else if (file_exists(partial))
      log << "dgm: note: " << partial << " (a checkpoint of an earlier run) will be replaced by this run's; to "
          << "continue that run instead: dgm train --resume " << partial << "\n";
    if (policy.steps > 0 || policy.seconds > 0) log << "dgm: checkpoints " << policy.text << " to " << partial << "\n";
  }

  g_interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  // Only rank 0 checkpoints: every rank holds the same training state.
  FitContext ctx{&pool, &rng, &monitor, &g_interrupted, to_stdout || !root ? nullptr : &checkpointer,
                 ckpt ? &resume_state : nullptr};
  if (P > 1) ctx.comm = &comm;
  try {
    model->fit(data.train, sizes[1] == 0 ? nullptr : &data.validation, ctx);
  } catch (...) {
    std::signal(SIGINT, previous);
    throw;
  }
  std::signal(SIGINT, previous);
  const double fit_seconds = monitor.seconds();
  // Interrupted: the loop saved a checkpoint when it saw the stop. A model
  // without a loop to stop finished its fit; it is saved as a whole model.
  const bool stopped = comm.any(g_interrupted.load());
  if (stopped && comm.any(checkpointer.saved_on_stop())) {
    monitor.finish();
    if (!quiet)
      log << "dgm: interrupted at " << checkpointer.position() << "; checkpoint written to " << partial
          << " (a usable model with the best parameters so far)\n"
          << "dgm: continue with: dgm train --resume " << partial << "\n";
    return 130;
  }

  // Stopped with nowhere to checkpoint (the model goes to stdout): the model
  // so far, marked partial.
  const bool interrupted = stopped && to_stdout;
  info["training"] = monitor.record(!opts.reproducible);
  monitor.finish();
  // Per block, whatever the number of ranks: the same figures for any P.
  NllSummary train_s = evaluate_nll(*model, data.train, pool, comm);
  NllSummary valid_s = evaluate_nll(*model, data.validation, pool, comm);
  NllSummary test_s = evaluate_nll(*model, data.test, pool, comm);
  info["metrics"] = metrics_json(train_s, valid_s, test_s, space);
  if (interrupted) info["partial"] = true;
  const std::string path = to_stdout ? "-" : interrupted ? partial : output;
  if (!root) {
    // Only rank 0 writes the model.
  } else if (path == "-") {
    ModelWriter w = model_writer(*model, info);
    const std::string bytes = w.serialize();
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.flush();
    if (!out) throw IoError("<stdout>: cannot write the model");
  } else {
    save_model(path, *model, info);
  }
  // The run is complete: its checkpoint has nothing left to continue.
  const bool removed = root && !interrupted && !to_stdout && (ckpt || checkpointer.saved()) && file_exists(partial) &&
                       ::unlink(partial.c_str()) == 0;

  if (!quiet) {
    {
      char t[64];
      std::snprintf(t, sizeof t, "%.2f", fit_seconds);
      log << "dgm: trained " << model->kind() << " in " << t << " s";
      if (P > 1) {
        std::snprintf(t, sizeof t, "%.1f", double(comm.bytes_sent()) / 1e6);
        log << " on " << P << " MPI processes (rank 0 put " << t << " MB into " << comm.collectives()
            << " collectives)";
      }
      log << "\n";
    }
    if (space.has_labels()) log << "  NLL of x given its label, -log P(x | y) ('dgm eval' also gives -log P(x) and the joint)\n";
    print_summary(log, "train", train_s);
    print_summary(log, "validation", valid_s);
    print_summary(log, "test", test_s);
    // Sequences: perplexity per position, the end marker counted (for text, OOVs as <unk>).
    if (codec && space.variable_length() && test_s.samples)
      log << "  test perplexity " << format_number(std::exp(test_s.bits_per_dim * kLn2), 6) << " per " << codec->unit()
          << " (the end marker included; see 'dgm eval' for the codec's figures)\n";
    else if (codec && test_s.samples && codec->unit() != "value")
      log << "  test " << format_number(test_s.bits_per_dim, 6) << " bits/" << codec->unit() << "\n";
    log << "dgm: model written to " << (path == "-" ? std::string("<stdout>") : path) << (interrupted ? " (partial)" : "")
        << "\n";
    if (removed) log << "dgm: removed the checkpoint " << partial << " (the run is complete)\n";
    if (!opts.plot.empty()) log << "dgm: training curve drawn to " << opts.plot << "\n";
  }
  return interrupted ? 130 : 0;
}

}  // namespace

void add_train(CLI::App& app, Action& action) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "Fit a model to data as a config file describes, and save it");
  sub->add_option("-c,--config", opts->config,
                  "JSON config: space, data, model, train, output; - for stdin. Its data paths are relative to "
                  "its folder. Required unless --resume");
  sub->add_option("-o,--output", opts->output,
                  "Model file to write, - for stdout [default: the config's \"output\", else model.dgm; with "
                  "--resume the checkpoint's name without \".partial\"]");
  sub->add_option("-s,--seed", opts->seed, "Random seed [default: the config's train.seed, else 1]")
      ->check(CLI::Range(int64_t(0), INT64_MAX));
  sub->add_option("-t,--threads", opts->threads,
                  "Worker threads; results do not depend on it [default: train.threads, else all cores]")
      ->check(CLI::Range(1, 1024));
  sub->add_flag("-q,--quiet", opts->quiet, "No progress or summary on stderr");
  sub->add_flag("-v,--verbose", opts->verbose, "Also print the whole effective config (defaults filled in)");
  sub->add_option("--log", opts->log, "Write one JSON object per iteration/epoch to this file (JSONL)");
  sub->add_option("--plot", opts->plot, "Keep a PNG of the training curves up to date (see 'dgm plot --help')");
  sub->add_option("-r,--resume", opts->resume,
                  "Continue the run that wrote this checkpoint (<output>.partial.dgm); config from it")
      ->check(CLI::ExistingFile);
  sub->add_flag("--reproducible", opts->reproducible,
                "Leave the run's times and thread count out of the training record, so that the same config and "
                "seed give a byte-identical model file (any --threads, resumed or not)");
  sub->add_option("--progress-every", opts->progress_seconds,
                  "When stderr is not a terminal: a progress line at most every this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
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
      "  dgm train -c configs/fmnist-nade.json --log train.jsonl --plot curve.png\n"
      "  dgm train --resume fmnist8-pixelcnn.partial.dgm\n"
      "  mpirun -np 2 dgm train -c configs/fmnist-mixture.json -t 1 --reproducible   # over MPI\n"
      "Checkpoints: train.checkpoint_every (N epochs or EM iterations, \"30s\", \"10min\", \"2h\" or \"off\";\n"
      "default \"10min\") writes <output>.partial.dgm atomically: a usable model (the best parameters so far)\n"
      "that also holds the training state. Ctrl-C stops at the next minibatch or iteration and writes the same\n"
      "checkpoint (a second Ctrl-C ends at once). --resume continues from it to the same final model, byte for\n"
      "byte (with --reproducible), as a run never stopped; it refuses a checkpoint written with another config,\n"
      "other data or another dgm version. The model goes to --output, else the checkpoint's name without\n"
      "\".partial\"; the checkpoint is removed once the run completes.\n"
      "Progress: a bar when stderr is a terminal, else a plain line at most every --progress-every seconds;\n"
      "--quiet prints neither. The model file records every step (see 'dgm info').\n"
      "MPI (a build with -DDGM_MPI=ON): under mpirun each process reads its shard of the data, sums and\n"
      "counts are combined exactly, and only rank 0 prints, logs, checkpoints and writes the model: the\n"
      "one a single process trains (byte for byte with --reproducible). See the README's MPI section.");
  sub->callback([opts, &action] {
    if (opts->config.empty() && opts->resume.empty()) throw CLI::RequiredError("--config (or --resume CHECKPOINT)");
    action = [opts] { return run_train(*opts, std::cout, std::cerr); };
  });
}

}  // namespace dgm::cli
