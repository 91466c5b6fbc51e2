#pragma once
// Optimizer parameters: each plugin describes its parameters with a schema (name, type,
// default, help, admissible range or choices); user-supplied text is validated against it
// before anything runs, so an unknown name or a bad value is an error naming the key.

#include <limits>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

enum class ParamType { real, integer, boolean, choice };

std::string to_string(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::real;
  std::string default_value;  // text, validated like user input
  std::string help;
  // Admissible range for real and integer parameters.
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  bool lower_exclusive = false;
  std::vector<std::string> choices;  // for ParamType::choice
  std::string keyword;               // a word a real or integer also accepts in place of a
                                     // number, e.g. "auto" (lr) or "full" (batch_size); empty: none

  // Short description of the admissible values, e.g. "real > 0 or auto", "one of a|b".
  std::string domain() const;
};

// Helpers that keep plugin schemas short and uniform.
ParamSpec real_param(std::string name, std::string default_value, std::string help,
                     double lower = -std::numeric_limits<double>::infinity(), bool lower_exclusive = false,
                     double upper = std::numeric_limits<double>::infinity());
ParamSpec integer_param(std::string name, std::string default_value, std::string help,
                        double lower = -std::numeric_limits<double>::infinity(),
                        double upper = std::numeric_limits<double>::infinity());
ParamSpec choice_param(std::string name, std::string default_value, std::string help,
                       std::vector<std::string> choices);
ParamSpec bool_param(std::string name, std::string default_value, std::string help);

using ParamSchema = std::vector<ParamSpec>;

// `schema` followed by `more`: a plugin's own parameters after shared ones.
ParamSchema with_params(ParamSchema schema, const ParamSchema& more);
using RawParams = std::map<std::string, std::string>;

// Validated parameter values: every schema entry has a value (given or default).
class Params {
 public:
  // `owner` names the optimizer in messages ("optimizer 'gd'"). Throws InputError for an
  // unknown name (listing the known ones) or a value outside the parameter's domain.
  static Params validate(const ParamSchema& schema, const RawParams& given, const std::string& owner);

  real get_real(const std::string& name) const;
  long long get_integer(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  const std::string& get_choice(const std::string& name) const;
  // Whether the parameter holds its keyword (ParamSpec::keyword) rather than a number.
  bool is_keyword(const std::string& name) const;
  bool is_auto(const std::string& name) const;  // holds the keyword "auto"

  // The text of every value as given (or the default), for results files.
  const std::map<std::string, std::string>& as_text() const { return text_; }

 private:
  using Value = std::variant<real, long long, bool, std::string>;
  const Value& value(const std::string& name) const;

  std::map<std::string, Value> values_;
  std::map<std::string, std::string> text_;
  std::set<std::string> keyword_names_;  // parameters holding their keyword
  std::string owner_;
};

}  // namespace kappa
