// commands.h — the dgm subcommands. Each cmd_<name>.cc declares its options
// once in add_<name>(), which registers the subcommand and, when it is the one
// chosen, sets `action` to run it; run_<name>() is callable in-process (tests).
// stdout carries data only; messages and progress go to the log stream.
#pragma once

#include <functional>
#include <iosfwd>

// CLI11 is included only where options are declared (cmd_*.cc, common.cc): under
// the sanitizers its header alone costs ~24 CPU s a translation unit (6 s at -O3).
namespace CLI {
class App;
}  // namespace CLI

namespace dgm::cli {

// Returns the process exit status: 0 success, 1 a runtime error.
using Action = std::function<int()>;

void add_train(CLI::App& app, Action& action);
void add_sample(CLI::App& app, Action& action);
void add_score(CLI::App& app, Action& action);
void add_eval(CLI::App& app, Action& action);
void add_info(CLI::App& app, Action& action);
void add_stats(CLI::App& app, Action& action);
void add_export(CLI::App& app, Action& action);
void add_plot(CLI::App& app, Action& action);
void add_convert(CLI::App& app, Action& action);
// Hidden `dgm _doc man|bash`: the manual page and the bash completion, made
// from the app's own subcommands and options (cmd_doc.cc); registered last.
void add_doc(CLI::App& app, Action& action);
void write_man_page(const CLI::App& app, std::ostream& out);
void write_bash_completion(const CLI::App& app, std::ostream& out);

// Builds the whole command line and runs it: what main() does, callable from
// tests. Usage errors give 2, runtime errors 1 with "dgm: error: ..." on err.
int run_main(int argc, const char* const* argv);

}  // namespace dgm::cli
