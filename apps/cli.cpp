#include "cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace kappa::cli {

void add_data_options(po::options_description& options, DataOptions& data) {
  options.add_options()
    ("data", po::value(&data.file)->value_name("FILE"), "HDF5 data file (seed layout by default)")
    ("synthetic", po::value(&data.synthetic)->value_name("SPEC"),
     "synthetic data instead of a file, e.g. 'seedlike' or "
     "'kind=spectrum,n=200,d=50,cond=1e6,profile=geometric,noise=0.01,n_test=100,seed=1'")
    ("x-train", po::value(&data.paths.X_train)->default_value(data.paths.X_train)->value_name("PATH"), "dataset of the training design")
    ("y-train", po::value(&data.paths.y_train)->default_value(data.paths.y_train)->value_name("PATH"), "dataset of the training targets")
    ("x-test", po::value(&data.paths.X_test)->default_value(data.paths.X_test)->value_name("PATH"), "dataset of the test design (optional in the file)")
    ("y-test", po::value(&data.paths.y_test)->default_value(data.paths.y_test)->value_name("PATH"), "dataset of the test targets (optional in the file)");
}

void check_data_options(const DataOptions& data) {
  if (data.file.empty() == data.synthetic.empty())
    throw UsageError("give exactly one of --data FILE or --synthetic SPEC (e.g. --synthetic seedlike)");
}

void require_regular_input(const std::string& file, const std::string& what) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(file, error);
  // A directory would get HDF5's vague "cannot be read", and opening a FIFO blocks for ever.
  if (std::filesystem::is_directory(status)) throw InputError(what + " '" + file + "' is a directory, not a file");
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw InputError(what + " '" + file + "' is not a regular file (a device, FIFO or socket)");
}

void print_line(const std::string& line) { std::cerr << (line + '\n') << std::flush; }

Dataset load_data(const DataOptions& data) {
  check_data_options(data);
  if (data.file.empty()) return generate_from_spec(data.synthetic);
  return read_hdf5(data.file, data.paths);  // refuses directories and FIFOs itself
}

void add_plugin_options(po::options_description& options, PluginOptions& plugins) {
  options.add_options()
    ("plugin-dir", po::value(&plugins.dirs)->composing()->value_name("DIR"),
     "directory with optimizer plugins, searched before KAPPA_PLUGIN_PATH and the built-in directory (repeatable)");
}

namespace {

// A directory the user named must exist (a typo would otherwise silently load nothing from
// it); KAPPA_PLUGIN_PATH and the built-in directories may be missing.
void require_plugin_dirs(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    std::error_code error;
    if (!std::filesystem::is_directory(dir, error))
      throw UsageError("--plugin-dir '" + dir + "': not a directory (does it exist?)");
  }
}

}  // namespace

void load_plugins(const PluginOptions& plugins, PluginRegistry& registry, bool warn_refused) {
  require_plugin_dirs(plugins.dirs);
  // The directories the user named come first on the path; a file there that is refused is an
  // error when running (the user put it there to use it), while refused files elsewhere on the
  // path (KAPPA_PLUGIN_PATH, the built-in directories) are warnings.
  registry.load_directories(plugins.dirs);
  if (warn_refused && !registry.load_errors().empty()) throw PluginError(registry.load_errors().front());
  const std::size_t named_refused = registry.load_errors().size();
  std::vector<std::string> rest = PluginRegistry::search_path({});
  rest.erase(std::remove_if(rest.begin(), rest.end(),
                            [&](const std::string& dir) {
                              return std::find(plugins.dirs.begin(), plugins.dirs.end(), dir) != plugins.dirs.end();
                            }),
             rest.end());
  registry.load_directories(rest);
  if (warn_refused)
    for (std::size_t i = named_refused; i < registry.load_errors().size(); ++i)
      print_line("kappa: warning: " + registry.load_errors()[i]);
}

std::vector<std::string> wrap_words(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::size_t paragraph_begin = 0;
  while (paragraph_begin <= text.size()) {
    const std::size_t paragraph_end = std::min(text.find('\n', paragraph_begin), text.size());
    std::string line;
    std::size_t at = paragraph_begin;
    while (at < paragraph_end) {
      const std::size_t word_end = std::min(text.find(' ', at), paragraph_end);
      const std::string word = text.substr(at, word_end - at);
      if (!word.empty()) {
        if (!line.empty() && line.size() + 1 + word.size() > width) {
          lines.push_back(line);
          line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
      }
      at = word_end + 1;
    }
    lines.push_back(line);
    paragraph_begin = paragraph_end + 1;
  }
  return lines;
}

std::string format_entry(const std::string& name, const std::string& description, std::size_t indent, std::size_t width) {
  const std::vector<std::string> lines = wrap_words(description, width > indent + 20 ? width - indent : 20);
  std::string text = name;
  std::size_t line = 0;
  if (name.size() + 2 <= indent) {
    text += std::string(indent - name.size(), ' ') + lines.front();
    line = 1;
  }
  text += '\n';
  for (; line < lines.size(); ++line) text += std::string(indent, ' ') + lines[line] + '\n';
  return text;
}

std::string format_options(const po::options_description& options, std::size_t width) {
  // Names and their value in the first column (as Boost spells them), the descriptions from
  // column `indent` on; a name longer than the column puts its description on the next line.
  constexpr std::size_t indent = 40;
  std::string text;
  for (const auto& option : options.options()) {
    std::string name = "  " + option->format_name();
    const std::string parameter = option->format_parameter();
    if (!parameter.empty()) name += " " + parameter;
    text += format_entry(name, option->description(), indent, width);
  }
  return text;
}

bool parse_command_line(int argc, char** argv, const std::string& usage, const po::options_description& options,
                        const po::positional_options_description* positional, const std::string& epilog) {
  po::options_description all = options;
  all.add_options()("help,h", "show this help");
  po::variables_map values;
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(all);
    // Without a description Boost drops positional tokens silently; an empty one refuses them.
    const po::positional_options_description none;
    parser.positional(positional ? *positional : none);
    po::store(parser.run(), values);
    if (values.count("help")) {
      std::cout << usage << "\n\noptions:\n" << format_options(all) << (epilog.empty() ? "" : "\n" + epilog);
      return false;
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw UsageError(std::string(error.what()) + " (see --help)");
  }
  return true;
}

void require_writable(const std::string& file) {
  const std::string prefix = "output file '" + file + "': ";
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) throw InputError(prefix + "is a directory");
  const std::filesystem::file_status existing = std::filesystem::status(file, error);
  if (std::filesystem::exists(existing) && !std::filesystem::is_regular_file(existing))
    throw InputError(prefix + "exists and is not a regular file (a FIFO or a device would block or be replaced)");
  // Outputs are written to FILE.tmp (and studies lock FILE.lock) and renamed: the longest of
  // those names must be a valid file name, or the run would fail only when it first writes.
  const std::string name = std::filesystem::path(file).filename().string();
  const std::string parent = std::filesystem::path(file).parent_path().string();
  const long name_max = ::pathconf(parent.empty() ? "." : parent.c_str(), _PC_NAME_MAX);
  if (name.size() + std::string(".lock").size() > static_cast<std::size_t>(name_max > 0 ? name_max : 255))
    throw InputError(prefix + "the name is too long: " + std::to_string(name.size()) + " characters, at most " +
                     std::to_string((name_max > 0 ? name_max : 255) - 5) + " (kappa writes FILE.tmp and FILE.lock beside it)");
  // A regular FILE.tmp left by a killed run is replaced; anything else there would make the
  // final rename fail after all the work.
  const std::filesystem::file_status temporary = std::filesystem::symlink_status(file + ".tmp", error);
  if (std::filesystem::exists(temporary) && !std::filesystem::is_regular_file(temporary))
    throw InputError(prefix + "its temporary file '" + file + ".tmp' exists and is " +
                     (std::filesystem::is_directory(temporary) ? "a directory" : "not a regular file") +
                     " (kappa writes FILE.tmp and renames it): remove it");
  const auto slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  const std::filesystem::file_status status = std::filesystem::status(dir, error);
  if (!std::filesystem::exists(status))
    throw InputError(prefix + "cannot be created (directory '" + dir + "' does not exist)");
  if (!std::filesystem::is_directory(status))
    throw InputError(prefix + "cannot be created ('" + dir + "' is not a directory)");
  // access(W_OK) says yes to root everywhere, also where no file can be created (/sys, a
  // read-only mount): create a file to know, and remove it.
  std::string probe = dir + "/.kappa-write-test-XXXXXX";
  const int descriptor = ::mkstemp(probe.data());
  if (descriptor < 0)
    throw InputError(prefix + "cannot be created (directory '" + dir + "' is not writable: " + std::strerror(errno) + ")");
  ::close(descriptor);
  ::unlink(probe.c_str());
}

std::string json_string(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          quoted += escaped;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

bool parse_json_string(const std::string& text, std::size_t& at, std::string& value) {
  if (at >= text.size() || text[at] != '"') return false;
  value.clear();
  for (++at; at < text.size(); ++at) {
    const char c = text[at];
    if (c == '"') {
      ++at;
      return true;
    }
    if (c != '\\') {
      value += c;
      continue;
    }
    if (++at >= text.size()) return false;
    switch (text[at]) {
      case 'n': value += '\n'; break;
      case 't': value += '\t'; break;
      case 'r': value += '\r'; break;
      case 'b': value += '\b'; break;
      case 'f': value += '\f'; break;
      case 'u': {
        if (at + 4 >= text.size() || text.substr(at + 1, 4).find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return false;
        const unsigned code = static_cast<unsigned>(std::stoul(text.substr(at + 1, 4), nullptr, 16));
        at += 4;
        if (code < 0x80) {
          value += static_cast<char>(code);
        } else if (code < 0x800) {
          value += static_cast<char>(0xc0 | (code >> 6));
          value += static_cast<char>(0x80 | (code & 0x3f));
        } else {
          value += static_cast<char>(0xe0 | (code >> 12));
          value += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
          value += static_cast<char>(0x80 | (code & 0x3f));
        }
        break;
      }
      default: value += text[at];  // \" \\ \/
    }
  }
  return false;
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

void write_file_atomically(const std::string& file, const std::string& content) {
  const std::string temporary = file + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("output file '" + file + "': cannot be created (does its directory exist and is it writable?)");
    out << content;
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      throw InputError("output file '" + file + "': write failed (disk full?)");
    }
  }
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw InputError("output file '" + file + "': cannot be renamed into place");
  }
}

}  // namespace kappa::cli
