#include "kappa/optimizer.hpp"

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"

namespace kappa {
namespace {

// Names of method classes, not of optimizers: none is an optimizer's name (tests/architecture).
constexpr EnumName<MethodClass> kMethodClassNames[] = {
    {MethodClass::none, "none"},
    {MethodClass::gradient_descent, "gradient-descent"},
    {MethodClass::heavy_ball, "heavy-ball"},
    {MethodClass::nesterov, "nesterov-momentum"},
    {MethodClass::accelerated, "accelerated"},
    {MethodClass::conjugate_gradient, "conjugate-gradient"},
    {MethodClass::newton, "newton-step"},
    {MethodClass::direct, "exact"},
};

}  // namespace

std::string to_string(MethodClass method) { return enum_name(kMethodClassNames, method); }
MethodClass parse_method_class(const std::string& text) { return parse_enum(kMethodClassNames, text, "method class"); }

ParamSpec step_size_param(const std::string& default_value) {
  ParamSpec spec = real_param("lr", default_value, "step size (learning rate); auto = 1/L (L: largest eigenvalue of the curvature bound, Lanczos), 1/L_b for minibatches (docs/optimizers.md)", 0.0, true);
  spec.keyword = "auto";
  return spec;
}

real resolve_step_size(const Params& params, const Problem& problem, const std::string& name) {
  if (!params.is_auto(name)) return params.get_real(name);
  const real smoothness = problem.smoothness();
  if (!(smoothness > 0)) throw NumericalError(name + "=auto: the smoothness constant is zero; give an explicit step size");
  return 1.0 / smoothness;
}

}  // namespace kappa
