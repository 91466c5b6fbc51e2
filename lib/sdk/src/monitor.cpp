#include "kappa/monitor.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
// The one name table of Status (results files, reports and progress lines use these names).
constexpr EnumName<Status> kStatusNames[] = {
    {Status::converged_gradient, "converged-gradient"},
    {Status::converged_loss, "converged-loss"},
    {Status::max_iterations, "max-iterations"},
    {Status::max_epochs, "max-epochs"},
    {Status::time_limit, "time-limit"},
    {Status::converged_precision, "converged-precision"},
    {Status::optimizer_rule, "optimizer-rule"},
    {Status::diverged, "diverged"},
    {Status::failed, "failed"},
    {Status::crashed, "crashed"},
};

std::string to_string(Status status) { return enum_name(kStatusNames, status); }
Status parse_status(const std::string& text) { return parse_enum(kStatusNames, text, "status"); }
std::vector<Status> all_statuses() {
  std::vector<Status> statuses;
  for (const auto& entry : kStatusNames) statuses.push_back(entry.value);
  return statuses;
}
bool is_converged(Status status) {
  return status == Status::converged_gradient || status == Status::converged_loss || status == Status::converged_precision;
}

void RunControls::validate() const {
  auto refuse = [](const std::string& name, double value, const std::string& expected) {
    std::ostringstream message;
    message << "stopping control '" << name << "' = " << format_number(value) << ": expected " << expected;
    throw InputError(message.str());
  };
  if (max_iterations < 1) refuse("max_iterations", static_cast<double>(max_iterations), "an integer >= 1");
  // grad_tol >= 1 would stop every run at iteration 0 as converged (|g_0| <= grad_tol |g_0|).
  if (!(max_epochs >= 0 && std::isfinite(max_epochs)))
    refuse("max_epochs", static_cast<double>(max_epochs), "a number of data passes >= 0 (0 = none)");
  if (!(grad_tol >= 0 && grad_tol < 1))
    refuse("grad_tol", static_cast<double>(grad_tol), "a number >= 0 and < 1 (relative to the initial gradient; 0 = off)");
  if (!(loss_tol >= 0)) refuse("loss_tol", static_cast<double>(loss_tol), "a number >= 0");
  if (!(time_limit >= 0)) refuse("time_limit", static_cast<double>(time_limit), "seconds >= 0 (0 = none)");
  if (!(divergence_factor > 1)) refuse("divergence_factor", static_cast<double>(divergence_factor), "a number > 1");
  if (trace_points_per_decade < 1) refuse("trace_points_per_decade", static_cast<double>(trace_points_per_decade), "an integer >= 1");
}

}  // namespace kappa
