#include "kappa/parse.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kappa/error.hpp"

namespace kappa {
namespace {

[[noreturn]] void refuse(const std::string& what, const std::string& text, const std::string& expected) {
  throw InputError(what + ": '" + text + "' is not " + expected);
}

}  // namespace

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : separator) + item;
  return joined;
}

real parse_real(const std::string& text, const std::string& what) {
  const std::string value = trim(text);
  if (value.empty()) refuse(what, text, "a number");
  char* end = nullptr;
  const double parsed = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size()) refuse(what, text, "a number");
  // strtod sets ERANGE both on overflow (+-HUGE_VAL, caught here as not finite) and on
  // underflow, whose result (a subnormal such as 1e-320, or 0) is a valid finite value.
  if (!std::isfinite(parsed)) refuse(what, text, "a finite number");
  return static_cast<real>(parsed);
}

long long parse_integer(const std::string& text, const std::string& what) {
  const std::string value = trim(text);
  if (value.empty()) refuse(what, text, "an integer");
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (end == value.c_str() + value.size() && errno == 0) return parsed;
  // Accept integral values written in scientific notation, e.g. "1e6".
  const real as_real = parse_real(value, what);
  if (std::floor(as_real) != as_real || std::fabs(as_real) > 9e18) refuse(what, text, "an integer");
  return static_cast<long long>(as_real);
}

bool parse_bool(const std::string& text, const std::string& what) {
  const std::string value = trim(text);
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  refuse(what, text, "a boolean (true/false)");
}

std::vector<std::string> split_list(const std::string& text, const std::string& what) {
  std::vector<std::string> items;
  std::string::size_type begin = 0;
  while (true) {
    const auto comma = text.find(',', begin);
    const std::string item = trim(text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
    if (item.empty()) throw InputError(what + ": empty item in '" + text + "'");
    items.push_back(item);
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return items;
}

std::map<std::string, std::string> parse_key_values(const std::string& text, const std::string& what) {
  std::map<std::string, std::string> pairs;
  for (const std::string& item : split_list(text, what)) {
    const auto equals = item.find('=');
    const std::string key = trim(item.substr(0, equals));
    const std::string value = equals == std::string::npos ? "" : trim(item.substr(equals + 1));
    if (key.empty()) throw InputError(what + ": item '" + item + "' has no key");
    if (!pairs.emplace(key, value).second) throw InputError(what + ": key '" + key + "' given twice");
  }
  return pairs;
}

}  // namespace kappa
