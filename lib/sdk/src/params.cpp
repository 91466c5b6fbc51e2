#include "kappa/params.hpp"

#include <sstream>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

ParamSpec make_spec(std::string name, ParamType type, std::string default_value, std::string help) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.help = std::move(help);
  return spec;
}

}  // namespace

constexpr EnumName<ParamType> kParamTypeNames[] = {
    {ParamType::real, "real"}, {ParamType::integer, "integer"}, {ParamType::boolean, "boolean"}, {ParamType::choice, "choice"}};

std::string to_string(ParamType type) { return enum_name(kParamTypeNames, type); }

std::string ParamSpec::domain() const {
  std::string text;
  switch (type) {
    case ParamType::boolean: return "true|false";
    case ParamType::choice: return join(choices, "|");
    case ParamType::real: text = "real"; break;
    case ParamType::integer: text = "integer"; break;
  }
  const bool has_lower = lower > -std::numeric_limits<double>::infinity();
  const bool has_upper = upper < std::numeric_limits<double>::infinity();
  if (has_lower && has_upper) {
    text += std::string(lower_exclusive ? " in (" : " in [") + format_number(lower) + ", " + format_number(upper) + "]";
  } else if (has_lower) {
    text += std::string(lower_exclusive ? " > " : " >= ") + format_number(lower);
  } else if (has_upper) {
    text += " <= " + format_number(upper);
  }
  if (!keyword.empty()) text += " or " + keyword;
  return text;
}

ParamSpec real_param(std::string name, std::string default_value, std::string help, double lower, bool lower_exclusive,
                     double upper) {
  ParamSpec spec = make_spec(std::move(name), ParamType::real, std::move(default_value), std::move(help));
  spec.lower = lower;
  spec.lower_exclusive = lower_exclusive;
  spec.upper = upper;
  return spec;
}

ParamSpec integer_param(std::string name, std::string default_value, std::string help, double lower, double upper) {
  ParamSpec spec = make_spec(std::move(name), ParamType::integer, std::move(default_value), std::move(help));
  spec.lower = lower;
  spec.upper = upper;
  return spec;
}

ParamSpec choice_param(std::string name, std::string default_value, std::string help, std::vector<std::string> choices) {
  ParamSpec spec = make_spec(std::move(name), ParamType::choice, std::move(default_value), std::move(help));
  spec.choices = std::move(choices);
  return spec;
}

ParamSpec bool_param(std::string name, std::string default_value, std::string help) {
  return make_spec(std::move(name), ParamType::boolean, std::move(default_value), std::move(help));
}

ParamSchema with_params(ParamSchema schema, const ParamSchema& more) {
  schema.insert(schema.end(), more.begin(), more.end());
  return schema;
}

Params Params::validate(const ParamSchema& schema, const RawParams& given, const std::string& owner) {
  for (const auto& [name, text] : given) {
    bool known = false;
    for (const ParamSpec& spec : schema) known = known || spec.name == name;
    if (!known) {
      std::vector<std::string> names;
      for (const ParamSpec& spec : schema) names.push_back(spec.name);
      throw InputError(owner + ": unknown parameter '" + name + "' (known: " + (names.empty() ? "none" : join(names, ", ")) + ")");
    }
  }
  Params params;
  params.owner_ = owner;
  for (const ParamSpec& spec : schema) {
    const auto found = given.find(spec.name);
    const std::string text = found == given.end() ? spec.default_value : found->second;
    const std::string what = owner + ": parameter '" + spec.name + "'";
    auto out_of_domain = [&]() { return InputError(what + " = '" + text + "' is out of range (expected " + spec.domain() + ")"); };
    Value value;
    if (!spec.keyword.empty() && text == spec.keyword) {
      value = text;
      params.keyword_names_.insert(spec.name);
    } else {
      switch (spec.type) {
        case ParamType::real:
        case ParamType::integer: {
          const double number = spec.type == ParamType::real ? parse_real(text, what) : static_cast<double>(parse_integer(text, what));
          const bool below = spec.lower_exclusive ? number <= spec.lower : number < spec.lower;
          if (below || number > spec.upper) throw out_of_domain();
          if (spec.type == ParamType::real) value = static_cast<real>(number); else value = parse_integer(text, what);
          break;
        }
        case ParamType::boolean: value = parse_bool(text, what); break;
        case ParamType::choice: {
          bool valid = false;
          for (const auto& choice : spec.choices) valid = valid || choice == text;
          if (!valid) throw InputError(what + " = '" + text + "' is not one of " + spec.domain());
          value = text;
          break;
        }
      }
    }
    params.values_[spec.name] = value;
    params.text_[spec.name] = text;
  }
  return params;
}

const Params::Value& Params::value(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) throw InputError(owner_ + ": parameter '" + name + "' is not in the schema");
  return found->second;
}

real Params::get_real(const std::string& name) const {
  const Value& held = value(name);
  if (const auto* number = std::get_if<real>(&held)) return *number;
  throw InputError(owner_ + ": parameter '" + name + "' is not a plain real (check is_auto first)");
}

long long Params::get_integer(const std::string& name) const {
  if (const auto* number = std::get_if<long long>(&value(name))) return *number;
  throw InputError(owner_ + ": parameter '" + name + "' is not an integer");
}

bool Params::get_bool(const std::string& name) const {
  if (const auto* flag = std::get_if<bool>(&value(name))) return *flag;
  throw InputError(owner_ + ": parameter '" + name + "' is not a boolean");
}

const std::string& Params::get_choice(const std::string& name) const {
  if (const auto* text = std::get_if<std::string>(&value(name))) return *text;
  throw InputError(owner_ + ": parameter '" + name + "' is not a choice");
}

bool Params::is_keyword(const std::string& name) const {
  value(name);  // throws for an unknown name
  return keyword_names_.count(name) != 0;
}

bool Params::is_auto(const std::string& name) const { return is_keyword(name) && std::get<std::string>(value(name)) == "auto"; }

}  // namespace kappa
