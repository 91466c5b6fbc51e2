// kappa solve: one problem, several optimizers, each compared with the direct solution.
#include <iostream>
#include <algorithm>
#include <map>

#include <kappa/parse.hpp>

#include "cli.hpp"
#include "report_writer.hpp"

namespace kappa::cli {
namespace {

constexpr const char* usage = R"(usage: kappa solve (--data FILE | --synthetic SPEC) [--optimizer LIST] [options]

Runs each optimizer from w = 0 on one least-squares-type problem and prints, for each and for
the direct solution w*: status, iterations, full data passes, seconds, train loss, gradient
norm, relative weight error |w - w*|/|w*| and test MAE. Losses are means over the samples
(PyTorch's MSELoss convention). Example:
  kappa solve --synthetic seedlike --optimizer gd,adam,lbfgs,cg --max-iterations 20000)";

// --set values: "key=value" applies to every listed optimizer that has the parameter,
// "optimizer.key=value" to that optimizer only.
std::map<std::string, RawParams> split_settings(const std::vector<std::string>& settings,
                                                const std::vector<std::string>& optimizers, const PluginRegistry& registry) {
  std::map<std::string, RawParams> per_optimizer;
  for (const std::string& setting : settings) {
    const auto equals = setting.find('=');
    if (equals == std::string::npos || equals == 0) throw UsageError("--set '" + setting + "': expected KEY=VALUE or OPTIMIZER.KEY=VALUE");
    std::string key = setting.substr(0, equals);
    const std::string value = setting.substr(equals + 1);
    const auto dot = key.find('.');
    if (dot != std::string::npos) {
      const std::string target = key.substr(0, dot);
      if (std::find(optimizers.begin(), optimizers.end(), target) == optimizers.end())
        throw UsageError("--set '" + setting + "': optimizer '" + target + "' is not in --optimizer");
      per_optimizer[target][key.substr(dot + 1)] = value;
      continue;
    }
    bool used = false;
    for (const std::string& name : optimizers)
      for (const ParamSpec& spec : registry.find(name).info.params)
        if (spec.name == key) {
          per_optimizer[name][key] = value;
          used = true;
        }
    if (!used) throw InputError("--set '" + setting + "': no listed optimizer has a parameter '" + key + "'");
  }
  return per_optimizer;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int run_solve(int argc, char** argv) {
  DataOptions data_options;
  PluginOptions plugin_options;
  std::string optimizer_list = "gd,adam,lbfgs,cg";
  std::string loss_name = "l2";
  real huber_delta = 1.0;
  real ridge = 0.0;
  bool intercept = false;
  std::string preconditioner = "none";
  std::string reference_method = "svd";
  std::vector<std::string> settings;
  StopControls controls;
  std::string output;
  long long seed = -1;

  po::options_description options("solve options");
  add_data_options(options, data_options);
  options.add_options()
    ("optimizer", po::value(&optimizer_list)->default_value(optimizer_list)->value_name("LIST"), "comma-separated optimizers (see kappa plugins)")
    ("set", po::value(&settings)->composing()->value_name("KEY=VALUE"), "optimizer parameter, e.g. lr=1e-3 or adam.lr=1e-3 (repeatable)")
    ("loss", po::value(&loss_name)->default_value(loss_name)->value_name("NAME"), "l2 (mean squared error) | l1 (mean absolute error) | huber")
    ("huber-delta", po::value(&huber_delta)->default_value(huber_delta)->value_name("X"), "threshold of the huber loss")
    ("ridge", po::value(&ridge)->default_value(ridge)->value_name("X"), "ridge penalty: adds ridge/2 |w|^2 (intercept not penalized)")
    ("intercept", po::bool_switch(&intercept), "fit an intercept (last weight)")
    ("preconditioner", po::value(&preconditioner)->default_value(preconditioner)->value_name("CHAIN"), "none | standardize (comma-separated chain)")
    ("reference", po::value(&reference_method)->default_value(reference_method)->value_name("METHOD"), "direct solution w*: svd | qr | cholesky")
    ("max-iterations", po::value(&controls.max_iterations)->default_value(controls.max_iterations)->value_name("N"), "stop after N updates")
    ("grad-tol", po::value(&controls.grad_tol)->default_value(controls.grad_tol)->value_name("X"), "stop when |grad| <= X |grad_0| (0: off)")
    ("loss-tol", po::value(&controls.loss_tol)->default_value(controls.loss_tol)->value_name("X"), "stop when the relative loss change <= X (0: off)")
    ("time-limit", po::value(&controls.time_limit)->default_value(controls.time_limit)->value_name("SECONDS"), "wall-time limit per optimizer (0: none)")
    ("seed", po::value(&seed)->value_name("N"), "seed of the synthetic data (overrides the spec's seed)")
    ("output,o", po::value(&output)->value_name("FILE"), "also write the results to FILE: .json (with traces) or .csv");
  add_plugin_options(options, plugin_options);
  if (!parse_command_line(argc, argv, usage, options)) return 0;

  // Validate everything that can be checked before any work is done.
  controls.validate();
  if (!output.empty() && !ends_with(output, ".json") && !ends_with(output, ".csv"))
    throw UsageError("--output '" + output + "': the file name must end in .json or .csv");
  if (!output.empty()) require_writable(output);
  ExperimentSetup setup;
  setup.loss.kind = parse_loss(loss_name);
  setup.loss.huber_delta = huber_delta;
  setup.loss.ridge = ridge;
  setup.loss.intercept = intercept;
  setup.preconditioner = preconditioner;
  setup.reference_method = parse_direct_method(reference_method);
  if (seed >= 0) {
    if (data_options.synthetic.empty()) throw UsageError("--seed applies to --synthetic data only");
    data_options.synthetic += ",seed=" + std::to_string(seed);
  }

  PluginRegistry registry;
  load_plugins(plugin_options, registry);
  const std::vector<std::string> optimizer_names = split_list(optimizer_list, "--optimizer");
  const auto settings_by_optimizer = split_settings(settings, optimizer_names, registry);
  std::vector<std::shared_ptr<const Optimizer>> optimizers;
  for (const std::string& name : optimizer_names) {
    const auto found = settings_by_optimizer.find(name);
    optimizers.push_back(registry.create(name, found == settings_by_optimizer.end() ? RawParams{} : found->second));
  }

  const Experiment experiment(load_data(data_options), setup);
  SolveReport report;
  report.data_source = experiment.data().source;
  report.loss = to_string(setup.loss.kind);
  report.preconditioner = experiment.preconditioner().name();
  report.samples = experiment.problem().num_samples();
  report.dim = experiment.problem().dim();
  report.experiment = &experiment;
  for (std::size_t i = 0; i < optimizers.size(); ++i)
    report.runs.push_back(experiment.run(optimizer_names[i], *optimizers[i], controls));

  std::cout << format_table(report);
  if (!output.empty()) {
    write_file_atomically(output, ends_with(output, ".json") ? format_json(report) : format_csv(report));
    std::cout << "\nwrote " << output << '\n';
  }
  return 0;
}

}  // namespace kappa::cli
