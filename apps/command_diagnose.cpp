// kappa diagnose: the conditioning of one problem and what it predicts for each optimizer
// (lib/include/kappa/theory.hpp; formulas and sources in docs/theory.md).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>

#include <kappa/parse.hpp>
#include "core/theory/theory.hpp"

#include "cli.hpp"

namespace kappa::cli {
namespace {

constexpr const char* usage = R"(usage: kappa diagnose (FILE | --data FILE | --synthetic SPEC) [options]

Measures the conditioning of a least-squares problem and says what each family of methods can
reach: the singular values, rank and condition number of X, the Hessian of the loss (kappa_H,
smoothness L, strong convexity mu), the largest stable step 2/L of gradient descent, the
iterations GD, momentum/Nesterov and CG need to reduce the error by --tolerance (bounds), the
accuracy rounding allows (F, the problem's own sensitivity), kappa_H after each preconditioner,
the same for the kernel-system formulation when X is a symmetric positive semi-definite kernel
matrix, and a verdict. Every "reaches", "does not reach" and "diverges" in the verdict is a
claim about one `kappa solve` command with a stated budget, written with --claims FILE and
checked by running it in kappa's verdict tests. Cost: SVDs of X (O(n d^2)); for a kernel,
eigendecompositions (O(n^3)). Example:
  kappa diagnose /work/shared/data/seedlike-600.h5)";

struct DiagnoseOptions {
  DataOptions data;
  std::string loss_name = "l2";
  real huber_delta = 1.0;
  real ridge = 0.0;
  bool intercept = false;
  std::string formulation;  // empty: every formulation that applies
  real tolerance = 1e-10;
  long budget = 10000;
  std::string spectrum_file;
  std::string claims_file;
};

po::options_description describe(DiagnoseOptions& o) {
  po::options_description options("diagnose options");
  add_data_options(options, o.data);
  options.add_options()
    ("loss", po::value(&o.loss_name)->default_value(o.loss_name)->value_name("NAME"), "l2 (mean squared error) | l1 | huber")
    ("huber-delta", po::value(&o.huber_delta)->default_value(o.huber_delta)->value_name("X"), "threshold of the huber loss (> 0)")
    ("ridge", po::value(&o.ridge)->default_value(o.ridge)->value_name("X"),
     "ridge penalty >= 0 (regression: + ridge/2 |w|^2; kernel system: K + ridge I)")
    ("intercept", po::bool_switch(&o.intercept), "fit an intercept (regression only)")
    ("formulation", po::value(&o.formulation)->value_name("NAME"),
     "regression | kernel-system: report only this one (default: both when X is a kernel matrix)")
    ("tolerance", po::value(&o.tolerance)->default_value(o.tolerance)->value_name("EPS"),
     "error reduction the predicted iterations are for, in (0, 1) (kappa solve's default --grad-tol)")
    ("budget", po::value(&o.budget)->default_value(o.budget)->value_name("N"),
     "iterations the verdict's fixed-step claims (gradient descent) are about, >= 1")
    ("spectrum", po::value(&o.spectrum_file)->value_name("FILE"), "also write every singular value of X to FILE (CSV: index,singular_value)")
    ("claims", po::value(&o.claims_file)->value_name("FILE"),
     "also write the verdict's claims to FILE (JSON: kind, method, solve_options, max_iterations, bound, basis)");
  return options;
}

std::string num(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

// "  label ........ value   note"
std::string row(const std::string& label, const std::string& value, const std::string& note = "") {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "  %-36s %-12s %s", label.c_str(), value.c_str(), note.c_str());
  std::string line = buffer;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + '\n';
}

// Wraps a paragraph at about 96 columns, with an indent.
std::string wrap(const std::string& text, const std::string& indent) {
  std::istringstream words(text);
  std::string word, line, out;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > 96 - indent.size()) {
      out += indent + line + '\n';
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += indent + line + '\n';
  return out;
}

std::string format_figures(const FormulationFigures& f, const Diagnosis& d) {
  const HessianSpectrum& s = f.spectrum;
  std::string text;
  text += row("Hessian H", f.hessian, s.exact ? "" : "(curvature bound)");
  text += row("L = lambda_max(H)", num(s.smoothness()), "smoothness");
  text += row("mu = lambda_min(H)", num(s.strong_convexity()),
              s.rank() < s.dim ? "(H is singular: rank " + std::to_string(s.rank()) + " of " + std::to_string(s.dim) + ")"
                               : "strong convexity");
  text += row("kappa_H = L / mu", num(s.condition()));
  text += row("largest stable step 2/L", num(f.max_stable_step), "GD / full-batch SGD with a larger lr explodes");
  text += row("lr = auto = 1/L", num(s.smoothness() > 0 ? 1 / s.smoothness() : arma::datum::nan));
  text += "  predicted iterations to reduce the error by " + num(d.tolerance) + ":\n";
  text += row("  gradient descent, lr = 1/L", num(f.gradient_descent_iterations), "~ kappa_H ln(1/eps)");
  text += row("  heavy ball / Nesterov (tuned)", num(f.accelerated_iterations), "~ sqrt(kappa_H) ln(1/eps)");
  text += row("  conjugate gradients (bound)", num(f.conjugate_gradient_iterations), "~ sqrt(kappa_H)/2 ln(2/eps)");
  if (f.attainable_accuracy > 0)
    text += row("attainable accuracy F", num(f.attainable_accuracy),
                "eps cond (1 + cond |r*| / (|M| |x*|)): what rounding allows (direct, reorthogonalized Krylov)");
  text += row("kappa_H eps_mach", num(f.normwise_floor), "worst case for a normwise gradient error (not the limit)");
  text += "  kappa_H after each preconditioner (w = P z):\n";
  for (const PreconditionerFigure& p : f.preconditioners)
    text += p.refused.empty() ? row("  " + p.name, num(p.condition)) : wrap(p.name + ": does not apply (" + p.refused + ")", "    ");
  return text;
}

std::string format_diagnosis(const Diagnosis& d, const std::string& data_arguments, const std::string& spectrum_file) {
  std::string text = "kappa diagnose: " + d.source + "\n\ndata\n";
  text += row("X_train", std::to_string(d.samples) + " x " + std::to_string(d.features),
              d.test_samples ? "(test part: " + std::to_string(d.test_samples) + " rows)" : "(no test part)");
  text += row("loss", to_string(d.loss.kind), "ridge " + num(d.loss.ridge) + (d.loss.intercept ? ", intercept" : ", no intercept"));
  const Vec& sigma = d.singular_values;
  text += "\nsingular values of X\n";
  text += row("sigma_max", num(sigma(0)));
  text += row("sigma_min", num(sigma(sigma.n_elem - 1)));
  // X = 0 has no condition number (0/0): say so rather than print the library's inf.
  if (sigma(0) == 0)
    text += row("cond(X) = sigma_max / sigma_min", "undefined", "X is zero: every singular value is 0");
  else
    text += row("cond(X) = sigma_max / sigma_min", condition_text(numerical_rank(sigma, d.samples, d.features)));  // as kappa solve
  text += row("numerical rank", std::to_string(d.rank) + " of " + std::to_string(sigma.n_elem), "(cutoff eps max(n, d) sigma_max)");
  if (!spectrum_file.empty()) text += row("all singular values", spectrum_file);
  if (d.regression) {
    text += "\nregression: f(w) = (1/n) sum rho(x_i^T w - y_i)" + std::string(d.loss.ridge > 0 ? " + ridge/2 |w_f|^2" : "") + "\n";
    text += format_figures(*d.regression, d);
  } else if (!d.regression_note.empty()) {
    text += "\nregression\n" + wrap(d.regression_note, "  ");
  }
  if (d.kernel_system) {
    text += "\nkernel system: f(a) = 1/2 a^T (K + lambda I) a - y^T a, K = X_train, lambda = " + num(d.loss.ridge) + "\n";
    text += format_figures(*d.kernel_system, d);
  } else if (!d.kernel_refused.empty()) {
    text += "\nkernel system: does not apply\n" + wrap(d.kernel_refused, "  ");
  }
  text += "\nverdict\n";
  for (const std::string& paragraph : d.verdict) text += wrap(paragraph, "  ") + '\n';
  if (!d.recommended_solve_options.empty())
    text += "  to confirm:\n    kappa solve " + data_arguments + " " + d.recommended_solve_options + "\n";
  return text;
}

std::string spectrum_csv(const Vec& sigma) {
  std::string text = "index,singular_value\n";
  char buffer[64];
  for (Index i = 0; i < sigma.n_elem; ++i) {
    std::snprintf(buffer, sizeof buffer, "%llu,%.17g\n", static_cast<unsigned long long>(i + 1), sigma(i));
    text += buffer;
  }
  return text;
}

// {"claims": [{"kind": ..., "method": ..., "solve_options": ..., "max_iterations": ..., "bound": ...,
// "basis": ...}, ...]}: what the verdict tests run.
std::string claims_json(const Diagnosis& d) {
  std::string text = "{\"source\": " + json_string(d.source) + ", \"claims\": [";
  for (std::size_t i = 0; i < d.claims.size(); ++i) {
    const Claim& c = d.claims[i];
    text += std::string(i ? "," : "") + "\n  {\"kind\": " + json_string(to_string(c.kind)) + ", \"method\": " +
            json_string(c.method) + ", \"solve_options\": " + json_string(c.solve_options) +
            ", \"max_iterations\": " + std::to_string(c.max_iterations) + ", \"bound\": " + json_number(c.bound) +
            ", \"basis\": " + json_string(c.basis) + "}";
  }
  return text + "\n]}\n";
}

}  // namespace

int run_diagnose(int argc, char** argv) {
  DiagnoseOptions o;
  po::positional_options_description positional;
  positional.add("data", 1);
  if (!parse_command_line(argc, argv, usage, describe(o), &positional)) return 0;
  // Everything that can be checked before the data is read.
  check_data_options(o.data);
  LossSpec loss;
  loss.kind = parse_loss(o.loss_name);
  loss.huber_delta = o.huber_delta;
  loss.ridge = o.ridge;
  loss.intercept = o.intercept;
  loss.validate();
  std::optional<Formulation> only;
  if (!o.formulation.empty()) only = parse_formulation(o.formulation);
  if (only == Formulation::kernel_system) check_kernel_system_spec(loss);
  if (!(o.tolerance > 0 && o.tolerance < 1))
    throw InputError("--tolerance " + format_number(o.tolerance) + ": expected a number > 0 and < 1");
  if (!o.spectrum_file.empty()) require_writable(o.spectrum_file);

  if (o.budget < 1) throw InputError("--budget " + std::to_string(o.budget) + ": expected an iteration count >= 1");
  if (!o.claims_file.empty()) require_writable(o.claims_file);

  const Diagnosis diagnosis = diagnose(load_data(o.data), loss, o.tolerance, only, o.budget);
  std::string data_arguments = o.data.file.empty() ? "--synthetic '" + o.data.synthetic + "'" : "--data " + o.data.file;
  const DatasetPaths defaults;
  for (const auto& [option, path, default_path] : {std::make_tuple("--x-train", o.data.paths.X_train, defaults.X_train),
                                                   std::make_tuple("--y-train", o.data.paths.y_train, defaults.y_train),
                                                   std::make_tuple("--x-test", o.data.paths.X_test, defaults.X_test),
                                                   std::make_tuple("--y-test", o.data.paths.y_test, defaults.y_test)})
    if (!o.data.file.empty() && path != default_path) data_arguments += std::string(" ") + option + " " + path;
  if (!o.spectrum_file.empty()) write_file_atomically(o.spectrum_file, spectrum_csv(diagnosis.singular_values));
  if (!o.claims_file.empty()) write_file_atomically(o.claims_file, claims_json(diagnosis));
  std::cout << format_diagnosis(diagnosis, data_arguments, o.spectrum_file);
  return 0;
}

}  // namespace kappa::cli
