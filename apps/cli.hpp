#pragma once
// Pieces shared by the kappa commands: option groups, building the data and the plugin
// registry from them, and the error type for usage mistakes.

#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "core/data/dataset.hpp"
#include "core/data/synthetic.hpp"
#include <kappa/error.hpp>
#include "core/loader/plugin_registry.hpp"

namespace kappa::cli {

namespace po = boost::program_options;

// A command's usage was wrong (exit status 2 rather than 1).
class UsageError : public InputError {
 public:
  using InputError::InputError;
};

struct DataOptions {
  std::string file;
  std::string synthetic;
  DatasetPaths paths;
};
void add_data_options(po::options_description& options, DataOptions& data);
void check_data_options(const DataOptions& data);  // UsageError unless exactly one of file, spec
Dataset load_data(const DataOptions& data);  // file or synthetic spec, exactly one

// Writes `line` and a newline to stderr in one write: under mpiexec, several ranks and Open
// MPI's own messages share the stream, and a line written in pieces can be interleaved.
void print_line(const std::string& line);

struct PluginOptions {
  std::vector<std::string> dirs;
};
void add_plugin_options(po::options_description& options, PluginOptions& plugins);
// Loads the plugin path. With warn_refused (commands that run optimizers), a refused file in a
// --plugin-dir is a PluginError, and refused files elsewhere on the path are one-line warnings
// on stderr; without it they are only kept in registry.load_errors(). A --plugin-dir that is not
// an existing directory is a UsageError naming it.
void load_plugins(const PluginOptions& plugins, PluginRegistry& registry, bool warn_refused = true);

// Parses argv for one command; prints help (usage, the options, then `epilog` if any) and
// returns false for --help.
bool parse_command_line(int argc, char** argv, const std::string& usage, const po::options_description& options,
                        const po::positional_options_description* positional = nullptr,
                        const std::string& epilog = "");

// The options as --help lists them: one per entry, its description in a column and wrapped at
// `width` columns at spaces only (Boost's own printer cuts inside tokens such as a
// preconditioner chain; a token longer than the column stands on a line of its own).
std::string format_options(const po::options_description& options, std::size_t width = 100);
// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole);
// line breaks in `text` are kept.
std::vector<std::string> wrap_words(const std::string& text, std::size_t width);
// One help entry: `name`, then `description` from column `indent` on, wrapped at `width`
// (on the next line when the name reaches the column).
std::string format_entry(const std::string& name, const std::string& description, std::size_t indent,
                         std::size_t width = 100);

// Refuses an input file that is a directory or not a regular file (a FIFO would block the
// reader for ever), naming it as `what` ("data file", "results file"); a missing file passes.
void require_regular_input(const std::string& file, const std::string& what);

// Checks before any work is done that `file` can be created (its directory exists and is
// writable), so that a long run does not end in an unwritable output.
void require_writable(const std::string& file);

// JSON text: a string, quoted and escaped; a number with 17 significant digits, null when not
// finite (JSON has no NaN or infinity).
std::string json_string(const std::string& text);
std::string json_number(double value);
// The reader of json_string's text: the string at `at` (its opening quote), `at` advanced past
// it; every JSON escape (\uXXXX of the basic plane as UTF-8). False on malformed text.
bool parse_json_string(const std::string& text, std::size_t& at, std::string& value);

// Writes `content` to `file` through a temporary file and a rename: never a partial file.
void write_file_atomically(const std::string& file, const std::string& content);

int run_solve(int argc, char** argv);
int run_diagnose(int argc, char** argv);
int run_study(int argc, char** argv);
int run_report(int argc, char** argv);
int run_generate(int argc, char** argv);
int run_plugins(int argc, char** argv);
// Not a user command: the task process kappa study starts on every rank (study_scheduler.hpp).
int run_task_process(int argc, char** argv);

}  // namespace kappa::cli
