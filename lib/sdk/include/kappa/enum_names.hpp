#pragma once
// One name table per enum, and the two conversions every enum needs derived from it: to text
// (results files, messages) and from text (options, grids, results read back). A table lists
// each value once with its name, in the order that `known` lists them in messages:
//
//   inline constexpr EnumName<LossKind> kLossNames[] = {{LossKind::l2, "l2"}, {LossKind::l1, "l1"}};
//   std::string to_string(LossKind loss) { return enum_name(kLossNames, loss); }
//   LossKind parse_loss(const std::string& text) { return parse_enum(kLossNames, text, "loss"); }
//
// parse_enum refuses unknown text with InputError "unknown <what> '<text>' (known: a, b, c)".

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kappa/error.hpp"

namespace kappa {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

template <class E, std::size_t N>
std::string enum_name(const EnumName<E> (&table)[N], E value) {
  for (const EnumName<E>& entry : table)
    if (entry.value == value) return entry.name;
  return "?";  // a value outside the table (a cast): never a name a parser accepts
}

template <class E, std::size_t N>
std::vector<std::string> enum_names(const EnumName<E> (&table)[N]) {
  std::vector<std::string> names;
  for (const EnumName<E>& entry : table) names.emplace_back(entry.name);
  return names;
}

template <class E, std::size_t N>
bool try_parse_enum(const EnumName<E> (&table)[N], std::string_view text, E& value) {
  for (const EnumName<E>& entry : table)
    if (text == entry.name) {
      value = entry.value;
      return true;
    }
  return false;
}

template <class E, std::size_t N>
E parse_enum(const EnumName<E> (&table)[N], const std::string& text, const std::string& what) {
  E value{};
  if (try_parse_enum(table, text, value)) return value;
  std::string known;
  for (const EnumName<E>& entry : table) known += (known.empty() ? "" : ", ") + std::string(entry.name);
  throw InputError("unknown " + what + " '" + text + "' (known: " + known + ")");
}

}  // namespace kappa
