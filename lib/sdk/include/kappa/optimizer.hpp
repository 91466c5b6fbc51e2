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

struct OptimizerInfo {
  std::string name;     // lower-case identifier used on the command line and in grids
  std::string summary;  // one line, with the method's reference
  ParamSchema params;
  OptimizerFactory create;
};

// Step-size parameter shared by first-order plugins: a positive real or "auto" (= 1/L with L
// the problem's smoothness constant, Problem::smoothness()).
ParamSpec step_size_param(const std::string& default_value);
real resolve_step_size(const Params& params, const Problem& problem, const std::string& name = "lr");

}  // namespace kappa
