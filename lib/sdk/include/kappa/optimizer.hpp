#pragma once
// The optimizer interface that plugins implement.

#include <functional>
#include <memory>
#include <string>

#include "kappa/monitor.hpp"
#include "kappa/params.hpp"
#include "kappa/problem.hpp"

namespace kappa {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Minimizes `problem` starting from `w` (updated in place). Reports every iteration to
  // `monitor` (iteration 0 first) and returns as soon as monitor.report(...) returns true.
  // An optimizer that cannot proceed calls monitor.fail(reason) and returns (the reason need not
  // name the optimizer: kappa prints it after the optimizer's name); one that finishes
  // on its own calls monitor.finish(...). Exceptions are caught by the framework and recorded
  // as a failed run. Must not keep state between calls: one Optimizer may run many problems.
  virtual void minimize(const Problem& problem, Vec& w, Monitor& monitor) const = 0;
};

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const Params&)>;

// A factory for an optimizer written as one function
//   void minimize(const Params&, const Problem&, Vec& w, Monitor&)
// with the Optimizer contract above, so that a plugin needs no class of its own.
template <class Minimize>
OptimizerFactory function_optimizer(Minimize minimize) {
  class FunctionOptimizer final : public Optimizer {
   public:
    FunctionOptimizer(const Params& params, const Minimize& function) : params_(params), function_(function) {}
    void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override { function_(params_, problem, w, monitor); }

   private:
    Params params_;
    Minimize function_;
  };
  return [minimize](const Params& params) -> std::unique_ptr<Optimizer> {
    return std::make_unique<FunctionOptimizer>(params, minimize);
  };
}

// Which convergence theory describes a method (core/theory predicts its iteration count on a
// quadratic from the Hessian's spectrum; docs/theory.md). A plugin declares it when it
// registers, so the workbench names no plugin and an out-of-tree optimizer gets a prediction.
//   none                no iteration-count theory (adaptive methods, quasi-Newton, ...)
//   gradient_descent    w -= lr g: rate max_i |1 - lr lambda_i|
//   heavy_ball          PyTorch SGD(momentum): the two-term recurrence with lr and momentum
//   nesterov            PyTorch SGD(nesterov=True): its recurrence with lr and momentum
//   accelerated         a tuned accelerated method: sqrt(kappa) ln(1/eps)
//   conjugate_gradient  Krylov methods on the normal equations or H w = b: the CG bound
//   newton              one step on a quadratic
//   direct              an exact solve: zero iterations; reports are the reference's
// The rate classes (gradient_descent, heavy_ball, nesterov) apply only to runs on the
// framework's first-order loop with the full batch, a constant step and no warm-up or
// averaging (first_order_params); other settings get no prediction.
enum class MethodClass { none, gradient_descent, heavy_ball, nesterov, accelerated, conjugate_gradient, newton, direct };
std::string to_string(MethodClass method);              // "none", "gradient-descent", ..., "exact" (direct)
MethodClass parse_method_class(const std::string& text);  // InputError naming the known classes

struct MethodTheory {
  MethodClass method = MethodClass::none;
  std::string step_size = "lr";        // the parameter holding the step (rate classes); "auto" = 1/L
  std::string momentum = "momentum";   // the parameter holding beta (heavy_ball, nesterov); a parameter name, not an optimizer
};

struct OptimizerInfo {
  std::string name;     // lower-case identifier used on the command line and in grids
  std::string summary;  // one line, with the method's reference
  ParamSchema params;
  OptimizerFactory create;
  MethodTheory theory{};  // what the theory knows of the method; default: none (an initializer, so that
                          // registrations without it stay free of -Wmissing-field-initializers)
  // minimize() evaluates the problem only through the framework's first-order loop
  // (iterate_first_order, kappa/first_order.hpp): a study runs the method's tasks on one problem
  // as lockstep groups that share each pass over the data (docs/study.md, "Lockstep groups").
  // A scheduling hint: a grouped run computes the same run as alone whatever its method.
  bool lockstep = false;
};

// Step-size parameter shared by first-order plugins: a positive real or "auto" (= 1/L with L
// the problem's smoothness constant, Problem::smoothness()).
ParamSpec step_size_param(const std::string& default_value);
real resolve_step_size(const Params& params, const Problem& problem, const std::string& name = "lr");

}  // namespace kappa
