// kappa solve: one problem, several optimizers, each compared with the direct solution.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include <kappa/parse.hpp>
#include "core/theory/theory.hpp"

#include "cli.hpp"
#include "report_writer.hpp"
#include "run_manifest.hpp"
#include "task_process.hpp"

namespace kappa::cli {
namespace {

// max_iterations when --max-epochs is the only budget (RunControls has no "none").
constexpr long kNoIterationCap = std::numeric_limits<long>::max();

constexpr const char* usage = R"(usage: kappa solve (--data FILE | --synthetic SPEC) [--optimizer LIST] [options]

Runs each optimizer from w = 0 on one least-squares-type problem and prints, for each and for
the direct solution w*: status, iterations, full data passes, seconds, train loss, gradient
norm, relative weight error |w - w*|/|w*| and test MAE. Losses are means over the samples
(PyTorch's MSELoss convention). Example:
  kappa solve --synthetic seedlike --optimizer gd,adam,lbfgs,cg --max-iterations 20000)";

struct SolveOptions {
  DataOptions data;
  PluginOptions plugins;
  std::string optimizer_list = "gd,adam,lbfgs,cg";
  std::string loss_name = "l2";
  real huber_delta = 1.0;
  real ridge = 0.0;
  bool intercept = false;
  std::string preconditioner = "none";
  std::string reference_method = "svd";
  std::string formulation = "regression";
  std::string precision = "double";
  std::vector<std::string> settings;
  RunControls controls;
  std::string output;
  std::optional<long long> seed;
  std::string isolation = "process";
  bool max_iterations_given = false;
};

po::options_description describe(SolveOptions& o) {
  po::options_description options("solve options");
  const std::string iterations_help = "stop after N updates (default " + std::to_string(o.controls.max_iterations) +
                                      "; none when --max-epochs is given without it, as in a study grid)";
  add_data_options(options, o.data);
  options.add_options()
    ("optimizer", po::value(&o.optimizer_list)->default_value(o.optimizer_list)->value_name("LIST"), "comma-separated optimizers (see kappa plugins)")
    ("set", po::value(&o.settings)->composing()->value_name("KEY=VALUE"),
     "optimizer parameter, e.g. lr=1e-3 (every listed optimizer with an lr) or adam.lr=1e-3 (adam only, wins over lr=...) (repeatable)")
    ("loss", po::value(&o.loss_name)->default_value(o.loss_name)->value_name("NAME"), "l2 (mean squared error) | l1 (mean absolute error) | huber")
    ("huber-delta", po::value(&o.huber_delta)->default_value(o.huber_delta)->value_name("X"), "threshold of the huber loss (> 0; used by --loss huber only)")
    ("ridge", po::value(&o.ridge)->default_value(o.ridge)->value_name("X"), "ridge penalty >= 0: adds ridge/2 |w|^2 (intercept not penalized)")
    ("intercept", po::bool_switch(&o.intercept), "fit an intercept (last weight)")
    ("preconditioner", po::value(&o.preconditioner)->default_value(o.preconditioner)->value_name("CHAIN"), "none | center | standardize | equilibrate[:max] | target-scale[:max] | jacobi | whiten | sketch[:sparse][:gamma=G][:seed=S] | spectral[:k=K]; a comma-separated chain is applied left to right (docs/preconditioners.md)")
    ("formulation", po::value(&o.formulation)->default_value(o.formulation)->value_name("NAME"),
     "regression: minimize the loss of X w ~ y | kernel-system: X is a symmetric PSD kernel K, minimize "
     "1/2 a^T (K + ridge I) a - y^T a (condition cond(K), not cond(K)^2; loss l2, no intercept)")
    ("reference", po::value(&o.reference_method)->default_value(o.reference_method)->value_name("METHOD"), "direct solution w*: svd | qr | cholesky")
    ("precision", po::value(&o.precision)->default_value(o.precision)->value_name("NAME"),
     "double | float: arithmetic of the iterative runs (float: data and products with it in float32, weights in "
     "double; regression only); the reference is always double")
    ("max-iterations", po::value<long>()->notifier([&o](long iterations) {
       o.controls.max_iterations = iterations;
       o.max_iterations_given = true;
     })->value_name("N"),
     iterations_help.c_str())
    ("max-epochs", po::value(&o.controls.max_epochs)->default_value(o.controls.max_epochs)->value_name("X"),
     "stop after X data passes (epochs; one full gradient is one) (0: none)")
    ("grad-tol", po::value(&o.controls.grad_tol)->default_value(o.controls.grad_tol)->value_name("X"), "stop when |grad| <= X |grad_0| (0: off)")
    ("loss-tol", po::value(&o.controls.loss_tol)->default_value(o.controls.loss_tol)->value_name("X"), "stop when the relative loss change <= X (0: off)")
    ("time-limit", po::value(&o.controls.time_limit)->default_value(o.controls.time_limit)->value_name("SECONDS"), "wall-time limit per optimizer (0: none)")
    ("seed", po::value<long long>()->notifier([&o](long long seed) { o.seed = seed; })->value_name("N"),
     "seed >= 0 of the synthetic data (replaces the spec's seed)")
    ("run-seed", po::value<long long>()->default_value(0)->notifier([&o](long long seed) {
       if (seed < 0) throw UsageError("--run-seed " + std::to_string(seed) + ": the seed must be an integer >= 0");
       o.controls.seed = static_cast<std::uint64_t>(seed);
     })->value_name("N"),
     "seed of the runs' random choices (minibatch order): same seed, same trajectory")
    ("output,o", po::value(&o.output)->value_name("FILE"), "also write the results to FILE: .json (with traces) or .csv")
    ("isolation", po::value(&o.isolation)->default_value(o.isolation)->value_name("MODE"),
     "process: each optimizer runs in a process of its own, so one that crashes costs its row (status crashed) | "
     "none: all in this process (for debuggers; a crash ends kappa solve)");
  add_plugin_options(options, o.plugins);
  return options;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// --set values: "key=value" applies to every listed optimizer that has the parameter,
// "optimizer.key=value" to that optimizer only, and wins over "key=value" in any order.
struct Setting {
  std::string text;    // as given, for messages
  std::string target;  // optimizer name; empty for an unqualified key
  std::string key;
  std::string value;
};

Setting parse_setting(const std::string& text, const std::vector<std::string>& optimizers) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) throw UsageError("--set '" + text + "': expected KEY=VALUE or OPTIMIZER.KEY=VALUE");
  Setting setting{text, "", text.substr(0, equals), text.substr(equals + 1)};
  const auto dot = setting.key.find('.');
  if (dot == std::string::npos) return setting;
  setting.target = setting.key.substr(0, dot);
  setting.key = setting.key.substr(dot + 1);
  if (std::find(optimizers.begin(), optimizers.end(), setting.target) == optimizers.end())
    throw UsageError("--set '" + text + "': optimizer '" + setting.target + "' is not in --optimizer");
  return setting;
}

void apply_unqualified(const Setting& setting, const std::vector<std::string>& optimizers, const PluginRegistry& registry,
                       std::map<std::string, RawParams>& per_optimizer) {
  bool used = false;
  for (const std::string& name : optimizers)
    for (const ParamSpec& spec : registry.find(name).info.params)
      if (spec.name == setting.key) {
        per_optimizer[name][setting.key] = setting.value;
        used = true;
      }
  if (!used) throw InputError("--set '" + setting.text + "': no listed optimizer has a parameter '" + setting.key + "'");
}

std::map<std::string, RawParams> split_settings(const std::vector<std::string>& texts, const std::vector<std::string>& optimizers,
                                                const PluginRegistry& registry) {
  std::vector<Setting> settings;
  for (const std::string& text : texts) settings.push_back(parse_setting(text, optimizers));
  std::map<std::string, RawParams> per_optimizer;
  for (const Setting& setting : settings)
    if (setting.target.empty()) apply_unqualified(setting, optimizers, registry, per_optimizer);
  for (const Setting& setting : settings)  // afterwards, so that OPT.key wins
    if (!setting.target.empty()) per_optimizer[setting.target][setting.key] = setting.value;
  return per_optimizer;
}

// The spec with its seed (if any) replaced by `seed`.
std::string with_seed(const std::string& spec, long long seed) {
  if (seed < 0) throw UsageError("--seed " + std::to_string(seed) + ": the seed must be an integer >= 0");
  if (spec.empty()) throw UsageError("--seed applies to --synthetic data only");
  const std::vector<std::string> items = split_list(spec, "--synthetic");
  std::vector<std::string> kept{items.front()};  // the kind (or seedlike) stays first
  for (std::size_t i = 1; i < items.size(); ++i)
    if (trim(items[i].substr(0, items[i].find('='))) != "seed") kept.push_back(items[i]);
  kept.push_back("seed=" + std::to_string(seed));
  return join(kept, ",");
}

// Everything that can be checked before plugins are loaded and data read.
ExperimentSetup checked_setup(SolveOptions& o) {
  check_data_options(o.data);
  // --max-epochs alone is the budget: the default iteration cap does not stop the run first.
  if (!o.max_iterations_given && o.controls.max_epochs > 0) o.controls.max_iterations = kNoIterationCap;
  o.controls.validate();
  if (!o.output.empty() && !ends_with(o.output, ".json") && !ends_with(o.output, ".csv"))
    throw UsageError("--output '" + o.output + "': the file name must end in .json or .csv");
  if (!o.output.empty()) require_writable(o.output);
  if (o.isolation != "process" && o.isolation != "none")
    throw UsageError("--isolation '" + o.isolation + "': expected process or none");
  if (o.seed) o.data.synthetic = with_seed(o.data.synthetic, *o.seed);
  ExperimentSetup setup;
  setup.loss.kind = parse_loss(o.loss_name);
  setup.loss.huber_delta = o.huber_delta;
  setup.loss.ridge = o.ridge;
  setup.loss.intercept = o.intercept;
  setup.loss.validate();  // the library's own rules, applied before any work is done
  parse_preconditioner_chain(o.preconditioner, setup.loss);  // e.g. center without --intercept, before any work
  setup.preconditioner = o.preconditioner;
  setup.reference_method = parse_direct_method(o.reference_method);
  setup.formulation = parse_formulation(o.formulation);
  setup.precision = parse_precision(o.precision);
  check_setup(setup);
  return setup;
}

struct PlannedRun {
  std::string name;
  Params params;
  std::shared_ptr<const Optimizer> optimizer;  // null when its parameters were refused (error)
  MethodTheory theory;  // what its plugin declared (OptimizerInfo::theory): the basis of its prediction
  std::string error;    // why its parameters were refused: its row fails, the others run
};

// Every listed optimizer, its parameters validated, created before any data is read. A bad
// parameter of one optimizer (a plugin's InputError, which names the optimizer) fails its row
// only.
std::vector<PlannedRun> plan_runs(const SolveOptions& o, const PluginRegistry& registry) {
  const std::vector<std::string> names = split_list(o.optimizer_list, "--optimizer");
  const auto settings = split_settings(o.settings, names, registry);
  std::vector<PlannedRun> runs;
  for (const std::string& name : names) {
    const auto found = settings.find(name);
    PlannedRun run{name, Params{}, nullptr, registry.find(name).info.theory, ""};
    try {
      run.params = registry.validate(name, found == settings.end() ? RawParams{} : found->second);
      run.optimizer = registry.create_validated(name, run.params);
    } catch (const InputError& error) {
      run.error = error.what();
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

// The prefix that names an optimizer in a message ("optimizer 'sgd': "): stderr's line has it
// once; the row's message (which its table line and files name already) does not.
std::string optimizer_prefix(const std::string& name) { return "optimizer '" + name + "': "; }
std::string without_prefix(const std::string& name, const std::string& reason) {
  const std::string prefix = optimizer_prefix(name);
  return reason.compare(0, prefix.size(), prefix) == 0 ? reason.substr(prefix.size()) : reason;
}

// Theory beside measurement (theory.hpp): the iterations each run's method class (the one its
// plugin declared) needs on this quadratic to reduce |grad| by grad_tol, with the run's own
// parameters. The spectrum costs an SVD (or eigendecomposition) of the problem, so it is
// computed only when some run has a prediction; problems without one (l1) leave the column
// empty. report.runs[i] is the run of planned[i].
void add_predictions(const Experiment& experiment, const RunControls& controls, const std::vector<PlannedRun>& planned,
                     SolveReport& report) {
  const Index samples = experiment.problem().num_samples();
  bool wanted = false;
  for (std::size_t i = 0; i < report.runs.size(); ++i)
    wanted = wanted || (planned.at(i).optimizer &&
                        effective_method_class(planned.at(i).theory, report.runs[i].params, samples) != MethodClass::none);
  if (!wanted) return;
  HessianSpectrum spectrum;
  try {
    spectrum = hessian_spectrum(experiment.problem(), experiment.preconditioner());
  } catch (const NumericalError& error) {
    for (SolveRun& run : report.runs) run.prediction = std::string("no prediction: ") + error.what();
    return;
  }
  for (std::size_t i = 0; i < report.runs.size(); ++i) {
    SolveRun& run = report.runs[i];
    if (!planned.at(i).optimizer) continue;
    const Prediction prediction = predict_iterations(planned.at(i).theory, run.params, spectrum, controls.grad_tol, samples);
    run.predicted_iterations = prediction.iterations;
    run.predicted_is_bound = prediction.upper_bound;
    if (prediction.method != MethodClass::none) run.prediction = prediction.basis;
  }
}

// Seconds without a heartbeat after which an optimizer's process counts as stopped or wedged.
constexpr double kSilenceSeconds = 60;

// One run in a process of its own (task_process.hpp), forked from this one so that it has the
// built problem: a crash, abort(), exit() or OOM kill in the plugin becomes a crashed row, and a
// plugin that stops reporting is killed after its time limit plus the grace.
RunResult run_isolated(const Experiment& experiment, const PlannedRun& run, const RunControls& controls) {
  const std::unique_ptr<ChildProcess> child = ChildProcess::fork([&](ParentLink& link) {
    link.start_heartbeat();
    if (!link.next_task()) return 1;
    return link.send(MessageKind::result, encode_run_result(experiment.run(run.name, *run.optimizer, controls, &link.progress()))) ? 0 : 1;
  });
  const TaskAnswer answer = run_in_child(*child, 0, {controls.time_limit, kSilenceSeconds}, nullptr);
  if (answer.answered) return decode_run_result(answer.result);
  RunResult crashed;
  crashed.optimizer = run.name;
  crashed.status = Status::crashed;
  crashed.message = "its process (pid " + std::to_string(child->pid()) + ") " + answer.death;
  crashed.iterations = answer.last.iteration;
  crashed.data_passes = answer.last.data_passes;
  crashed.grad_norm = answer.last.grad_norm;
  crashed.seconds = answer.seconds;
  crashed.evaluation.train_loss = answer.last.loss;
  for (real* value : {&crashed.evaluation.loss_gap, &crashed.evaluation.relative_weight_error, &crashed.evaluation.weight_norm})
    *value = arma::datum::nan;
  return crashed;
}

// The row of an optimizer whose parameters were refused: failed, with the reason, nothing run.
RunResult refused_run(const Experiment& experiment, const std::string& name, const std::string& reason) {
  RunResult refused;
  refused.optimizer = name;
  refused.status = Status::failed;
  refused.input_error = true;
  refused.message = without_prefix(name, reason);
  refused.w = Vec(experiment.problem().dim(), arma::fill::value(arma::datum::nan));
  for (real* value : {&refused.evaluation.train_loss, &refused.evaluation.loss_gap, &refused.evaluation.relative_weight_error,
                      &refused.evaluation.weight_norm})
    *value = arma::datum::nan;
  return refused;
}

SolveReport run_all(const Experiment& experiment, const SolveOptions& o, const std::vector<PlannedRun>& planned) {
  SolveReport report;
  report.experiment = &experiment;
  report.controls = o.controls;
  if (!o.data.file.empty()) report.file_paths = o.data.paths;
  for (const PlannedRun& run : planned) {
    SolveRun solve_run;
    if (!run.optimizer) {
      solve_run.result = refused_run(experiment, run.name, run.error);
      report.runs.push_back(std::move(solve_run));
      continue;
    }
    solve_run.result = o.isolation == "process" ? run_isolated(experiment, run, o.controls) : experiment.run(run.name, *run.optimizer, o.controls);
    // A parameter that does not fit the data is bad input, known only once the data are read:
    // its row fails with the reason, named once.
    if (solve_run.result.input_error) solve_run.result.message = without_prefix(run.name, solve_run.result.message);
    solve_run.params = run.params.as_text();
    solve_run.lr_used = used_step_size(run.params, run.theory.step_size, experiment.solver_problem());
    report.runs.push_back(std::move(solve_run));
  }
  add_predictions(experiment, o.controls, planned, report);
  return report;
}

}  // namespace

int run_solve(int argc, char** argv) {
  const std::string started = utc_time_text();  // for the manifest of the JSON output
  SolveOptions o;
  if (!parse_command_line(argc, argv, usage, describe(o))) return 0;
  const ExperimentSetup setup = checked_setup(o);
  PluginRegistry registry;
  load_plugins(o.plugins, registry);
  const std::vector<PlannedRun> planned = plan_runs(o, registry);

  const Experiment experiment(load_data(o.data), setup);
  const SolveReport report = run_all(experiment, o, planned);
  std::cout << format_table(report);
  if (!o.output.empty()) {
    write_file_atomically(o.output, ends_with(o.output, ".json")
                                        ? with_manifest(format_json(report), solve_manifest(argc, argv, started, registry, o.data))
                                        : format_csv(report));
    std::cout << "\nwrote " << o.output << '\n';
  }
  // Bad input of an optimizer (its parameters): its row failed, the others ran; one line each
  // on stderr and exit status 1.
  int status = 0;
  for (const SolveRun& run : report.runs)
    if (run.result.input_error) {
      print_line("kappa solve: " + optimizer_prefix(run.result.optimizer) + run.result.message);
      status = 1;
    }
  return status;
}

}  // namespace kappa::cli
