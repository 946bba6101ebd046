// cmd_doc.cc — the manual page dgm.1 and the bash completion script, both
// generated from the CLI11 app itself: every visible subcommand with its
// description, options (names, value types, defaults, allowed values, needs /
// excludes) and footer, exactly as --help shows them. A command or flag added
// later appears in both without edits. The build runs the hidden command
// `dgm _doc man|bash -o FILE` and installs the output (CMakeLists.txt).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/io/atomic_file.h"
#include "dgm/io/read.h"

namespace dgm::cli {
namespace {

// Visible subcommands (CLI11 hides those whose group is empty), in the order
// they were registered.
std::vector<const CLI::App*> visible_commands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

std::vector<const CLI::Option*> visible_options(const CLI::App& cmd) {
  return cmd.get_options([](const CLI::Option* o) { return !o->get_group().empty(); });
}

// "INT:INT in [1 - 1024]" -> the value's name ("INT") and what it may be
// ("INT in [1 - 1024]"; "{lines,grid}" for a set of words).
struct ValueType {
  std::string name, allowed;
};
ValueType value_type(const CLI::Option& o) {
  const std::string t = o.get_type_name();
  const size_t colon = t.find(':');
  if (colon == std::string::npos) return {t, ""};
  return {t.substr(0, colon), t.substr(colon + 1)};
}

bool takes_value(const CLI::Option& o) { return o.get_type_size() != 0; }
bool repeatable(const CLI::Option& o) { return o.get_expected_max() >= CLI::detail::expected_max_vector_size; }

// The words of a "{a,b,c}" set of allowed values; empty when it is not one.
std::vector<std::string> choices(const std::string& allowed) {
  std::vector<std::string> out;
  if (allowed.size() < 2 || allowed.front() != '{' || allowed.back() != '}') return out;
  std::string word;
  for (size_t i = 1; i + 1 < allowed.size(); ++i) {
    if (allowed[i] == ',') {
      out.push_back(word);
      word.clear();
    } else {
      word += allowed[i];
    }
  }
  out.push_back(word);
  return out;
}

// Every data format (the plain ones and the codecs'), for options whose value
// is named FORMAT.
std::vector<std::string> all_formats() {
  std::vector<std::string> names = format_names();
  for (const auto& k : codec_kinds())
    for (const auto& f : k.formats)
      if (std::find(names.begin(), names.end(), f) == names.end()) names.push_back(f);
  return names;
}

std::vector<std::string> option_names(const CLI::Option& o) {
  std::vector<std::string> names;
  for (const auto& s : o.get_snames()) names.push_back("-" + s);
  for (const auto& l : o.get_lnames()) names.push_back("--" + l);
  return names;
}

std::vector<std::string> sorted_names(const std::set<CLI::Option*>& opts) {
  std::vector<std::string> names;
  for (const CLI::Option* o : opts) names.push_back(o->get_name());
  std::sort(names.begin(), names.end());
  return names;
}

// ---- roff ----

// Text for roff: backslashes and hyphens escaped, a line that would start
// with a control character ('.' or '\'') protected by "\&".
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// A footer as it is: examples keep their line breaks and indentation.
void man_verbatim(std::ostream& out, const std::string& text) {
  if (text.empty()) return;
  out << ".PP\n.nf\n" << roff(text) << (text.back() == '\n' ? "" : "\n") << ".fi\n";
}

// An existence check stands in for the value's name ("--given FILE"); other
// validators are listed after the description.
bool names_kind(const std::string& allowed) {
  return allowed == "FILE" || allowed == "DIR" || allowed == "PATH(existing)" || allowed == "PATH(non-existing)";
}
std::string value_name(const CLI::Option& o) {
  const ValueType t = value_type(o);
  if (names_kind(t.allowed)) return t.allowed == "DIR" ? "DIR" : t.allowed == "FILE" ? "FILE" : "PATH";
  return t.name;
}

void man_option(std::ostream& out, const CLI::Option& o) {
  out << ".TP\n";
  if (o.get_positional() && !o.nonpositional()) {  // an argument only; one with names too is listed by them
    out << "\\fI" << roff(o.get_name(true, false)) << "\\fR" << (repeatable(o) ? " ..." : "") << "\n";
  } else {
    std::string line;
    for (const auto& n : option_names(o)) line += (line.empty() ? "" : ", ") + ("\\fB" + roff(n) + "\\fR");
    if (takes_value(o) && !value_name(o).empty()) line += " \\fI" + roff(value_name(o)) + "\\fR";
    if (takes_value(o) && repeatable(o)) line += " ...";
    out << line << "\n";
  }
  std::string desc = o.get_description();
  const ValueType t = value_type(o);
  std::vector<std::string> notes;
  if (!t.allowed.empty() && !names_kind(t.allowed)) notes.push_back("Allowed: " + t.allowed + ".");
  if (takes_value(o) && !o.get_default_str().empty()) notes.push_back("Default: " + o.get_default_str() + ".");
  if (o.get_required()) notes.push_back("Required.");
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!o.get_needs().empty()) notes.push_back("Needs " + list(sorted_names(o.get_needs())) + ".");
  if (!o.get_excludes().empty()) notes.push_back("Excludes " + list(sorted_names(o.get_excludes())) + ".");
  if (!notes.empty() && !desc.empty() && desc.back() != '.') desc += '.';
  for (const auto& n : notes) desc += (desc.empty() ? "" : " ") + n;
  out << roff(one_line(desc)) << "\n";
}

std::string synopsis(const CLI::App& cmd) {
  std::string s = "\\fBdgm " + roff(cmd.get_name()) + "\\fR [\\fIOPTIONS\\fR]";
  for (const CLI::Option* o : visible_options(cmd)) {
    if (!o->get_positional()) continue;
    std::string p = "\\fI" + roff(o->get_name(true, false)) + "\\fR" + (repeatable(*o) ? " ..." : "");
    s += " " + (o->get_required() ? p : "[" + p + "]");
  }
  return s;
}

// The description of the program without a leading "dgm: ", on one line.
std::string summary(const CLI::App& app) {
  std::string d = one_line(app.get_description());
  const std::string prefix = app.get_name() + ": ";
  if (d.compare(0, prefix.size(), prefix) == 0) d = d.substr(prefix.size());
  while (!d.empty() && (d.back() == '.' || d.back() == ' ')) d.pop_back();
  return d;
}

}  // namespace

void write_man_page(const CLI::App& app, std::ostream& out) {
  out << ".\\\" dgm.1: generated by 'dgm _doc man' from the --help texts of dgm " << DGM_VERSION
      << ". Do not edit;\n.\\\" change the descriptions in src/cli/ instead.\n";
  out << ".TH DGM 1 \"\" \"dgm " << DGM_VERSION << "\" \"User Commands\"\n";
  out << ".nh\n.ad l\n";  // no hyphenation (options are copied), ragged right
  out << ".SH NAME\ndgm \\- " << roff(summary(app)) << "\n";
  out << ".SH SYNOPSIS\n";
  for (const CLI::App* cmd : visible_commands(app)) out << synopsis(*cmd) << "\n.br\n";
  out << ".SH DESCRIPTION\n\\fBdgm\\fR " << roff(summary(app)) << ".\n";
  man_verbatim(out, app.get_footer());
  out << ".SH OPTIONS\n";
  for (const CLI::Option* o : visible_options(app)) man_option(out, *o);
  out << ".SH COMMANDS\n";
  for (const CLI::App* cmd : visible_commands(app)) {
    out << ".SS \"dgm " << roff(cmd->get_name()) << "\"\n";
    out << roff(cmd->get_description()) << "\n";
    out << ".PP\n" << synopsis(*cmd) << "\n";
    for (const CLI::Option* o : visible_options(*cmd))
      if (o != cmd->get_help_ptr()) man_option(out, *o);  // -h is under OPTIONS, once
    man_verbatim(out, cmd->get_footer());
  }
  out << ".SH EXIT STATUS\n"
         "0 on success; 1 on a runtime error, reported on stderr as one line "
         "\\(lqdgm: error: \\fIwhat and where\\fR\\(rq; 2 on a usage error.\n";
  out << ".SH SEE ALSO\n"
         "\\fBdgm \\fIcommand\\fB \\-\\-help\\fR prints the same text for one command.\n";
}

// Bash: the command is the first word that names a subcommand; an option that
// takes a value completes files for TEXT/FILE/PATH values, directories for
// DIR, the words of a {a,b} set, the format names for FORMAT, and nothing for
// numbers; otherwise the
// command's options (after '-') or files (for commands with positionals).
void write_bash_completion(const CLI::App& app, std::ostream& out) {
  const auto commands = visible_commands(app);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  auto all_names = [&](const CLI::App& cmd) {
    std::vector<std::string> names;
    for (const CLI::Option* o : visible_options(cmd))
      for (const auto& n : option_names(*o)) names.push_back(n);
    return names;
  };
  out << "# bash completion for dgm " << DGM_VERSION
      << ": generated by 'dgm _doc bash' from dgm's own command line\n"
         "# (every subcommand and option); installed as share/bash-completion/completions/dgm.\n"
         "# Do not edit.\n"
         "_dgm_words() { mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\"); }\n"
         "_dgm_files() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); }\n"
         "_dgm_dirs() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"); }\n"
         "_dgm() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' i\n"
         "  (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "  # --option=value arrives as three words: --option = value\n"
         "  if [[ $cur == = ]]; then cur=''\n"
         "  elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then prev=${COMP_WORDS[COMP_CWORD-2]}; fi\n"
         "  for (( i = 1; i < COMP_CWORD; i++ )); do\n"
         "    case ${COMP_WORDS[i]} in\n";
  std::vector<std::string> names;
  for (const CLI::App* c : commands) names.push_back(c->get_name());
  std::string alt;
  for (const auto& n : names) alt += (alt.empty() ? "" : "|") + n;
  out << "      " << alt << ") cmd=${COMP_WORDS[i]}; break ;;\n"
      << "    esac\n  done\n  case $cmd in\n";
  std::vector<std::string> top = names;
  for (const auto& n : all_names(app)) top.push_back(n);
  out << "    '') _dgm_words \"" << join(top) << "\" ;;\n";
  for (const CLI::App* cmd : commands) {
    out << "    " << cmd->get_name() << ")\n      case $prev in\n";
    bool positionals = false;
    for (const CLI::Option* o : visible_options(*cmd)) {
      if (o->get_positional()) {
        positionals = true;
        if (!o->nonpositional()) continue;
      }
      if (!takes_value(*o)) continue;
      std::string pattern;
      for (const auto& n : option_names(*o)) pattern += (pattern.empty() ? "" : "|") + n;
      const ValueType t = value_type(*o);
      const auto words = choices(t.allowed);
      std::string action;
      if (!words.empty()) action = "_dgm_words \"" + join(words) + "\"";
      else if (value_name(*o) == "FORMAT") action = "_dgm_words \"" + join(all_formats()) + "\"";
      else if (value_name(*o) == "DIR") action = "_dgm_dirs";
      else if (t.name == "TEXT" || value_name(*o) == "FILE" || value_name(*o) == "PATH") action = "_dgm_files";
      else action = ":";  // a number or a KEY=VALUE: nothing to offer
      out << "        " << pattern << ") " << action << "; return ;;\n";
    }
    out << "      esac\n";
    if (positionals)
      out << "      if [[ $cur == -* ]]; then _dgm_words \"" << join(all_names(*cmd)) << "\"; else _dgm_files; fi ;;\n";
    else
      out << "      _dgm_words \"" << join(all_names(*cmd)) << "\" ;;\n";
  }
  out << "  esac\n}\ncomplete -F _dgm dgm\n";
}

void add_doc(CLI::App& app, Action& action) {
  struct DocOptions {
    std::string what, output = "-";
  };
  auto o = std::make_shared<DocOptions>();
  CLI::App* sub = app.add_subcommand("_doc", "Write the manual page or the bash completion script (used by the build)");
  sub->group("");  // hidden: not in --help, the manual or the completion
  sub->add_option("what", o->what, "man or bash")->required()->check(CLI::IsMember({"man", "bash"}));
  sub->add_option("-o,--output", o->output, "File to write, - for stdout")->capture_default_str();
  CLI::App* root = &app;
  sub->callback([o, root, &action]() {
    action = [o, root]() {
      std::ostringstream text;
      if (o->what == "man") write_man_page(*root, text);
      else write_bash_completion(*root, text);
      write_file_atomically(o->output, text.str());  // "-": stdout, checked
      return 0;
    };
  });
}

}  // namespace dgm::cli
