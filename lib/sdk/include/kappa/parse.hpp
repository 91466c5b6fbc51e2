#pragma once
// Strict conversions of user-supplied text (options, spec strings, parameter values). Every
// function throws InputError naming `what` (e.g. "parameter 'lr' of optimizer 'gd'") and the
// offending text; trailing characters, empty text, and non-finite numbers are refused.

#include <map>
#include <string>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

// A value too small for a normal double (e.g. 1e-320) is accepted as the subnormal (or zero) it
// rounds to; one too large (e.g. 1e999) is refused.
real parse_real(const std::string& text, const std::string& what);
long long parse_integer(const std::string& text, const std::string& what);
bool parse_bool(const std::string& text, const std::string& what);  // true/false/1/0/yes/no/on/off

// Text helpers shared by messages and writers.
std::string format_number(double value);  // shortest round-trip-free form: %g (6 significant digits)
std::string trim(const std::string& text);  // without leading/trailing blanks and tabs
std::string join(const std::vector<std::string>& items, const std::string& separator);

// Splits "a,b,c" at commas, trimming blanks; empty items are refused.
std::vector<std::string> split_list(const std::string& text, const std::string& what);

// Parses "k1=v1,k2=v2" (no duplicates). A bare item without '=' is stored with an empty value.
std::map<std::string, std::string> parse_key_values(const std::string& text, const std::string& what);

}  // namespace kappa
