#include "report_writer.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include "cli.hpp"
#include "study/grid.hpp"
#include "study/schema.hpp"

namespace kappa::cli {
namespace {

using ParamText = std::map<std::string, std::string>;

// One tidy row per method: the direct reference first, then each optimizer run.
struct Row {
  std::string method;
  std::string status;
  std::string message;
  long iterations = 0;
  double predicted_iterations = arma::datum::nan;  // optimizer rows with a prediction only
  bool predicted_is_bound = false;
  std::string prediction;
  double data_passes = 0;   // all of them, set-up included (the table's "passes")
  double setup_passes = 0;  // before the report of iteration 0: epochs = data_passes - setup_passes
  double lr_used = arma::datum::nan;
  double seconds = 0;
  real grad_norm = 0;  // of the objective the optimizers see (solver coordinates), for every row
  Evaluation evaluation;
  const std::vector<TracePoint>* trace = nullptr;
  const ParamText* params = nullptr;  // optimizer rows only
  const Vec* weights = nullptr;        // the final w in the original coordinates (JSON only)
  bool reference = false;
  real residual_norm = arma::datum::nan;  // reference row only
  real normal_residual_norm = arma::datum::nan;
};

// |grad g(z*)| at z* = P^{-1} w*: the coordinates in which the optimizers report their
// gradient norms, so that the reference row compares with theirs.
real solver_gradient_norm(const Experiment& experiment) {
  Vec gradient;
  experiment.solver_problem().loss_grad(experiment.preconditioner().to_solver(experiment.reference().w), gradient);
  return arma::norm(gradient);
}

std::string bound_text(const DirectSolution& reference);  // below, with the other number formats

Row reference_row(const Experiment& experiment) {
  const DirectSolution& reference = experiment.reference();
  Row row;
  row.method = "direct:" + to_string(reference.method);
  row.status = "reference";
  row.message = "rank " + std::to_string(reference.rank) + "/" + std::to_string(reference.w.n_elem) + bound_text(reference);
  row.iterations = reference.irls_iterations;
  row.seconds = reference.seconds;
  row.grad_norm = solver_gradient_norm(experiment);
  row.evaluation = experiment.reference_evaluation();
  row.weights = &reference.w;
  row.reference = true;
  row.residual_norm = reference.residual_norm;
  row.normal_residual_norm = reference.normal_residual_norm;
  return row;
}

Row run_row(const SolveRun& run) {
  const RunResult& result = run.result;
  Row row;
  row.method = result.optimizer;
  row.status = to_string(result.status);
  row.message = result.message;
  row.iterations = result.iterations;
  row.predicted_iterations = run.predicted_iterations;
  row.predicted_is_bound = run.predicted_is_bound;
  row.prediction = run.prediction;
  row.data_passes = result.data_passes;
  row.setup_passes = result.setup_passes;
  row.lr_used = run.lr_used;
  row.seconds = result.seconds;
  row.grad_norm = result.grad_norm;
  row.evaluation = result.evaluation;
  row.trace = &result.trace;
  row.params = &run.params;
  row.weights = &result.w;
  return row;
}

std::vector<Row> rows_of(const SolveReport& report) {
  std::vector<Row> rows{reference_row(*report.experiment)};
  for (const SolveRun& run : report.runs) rows.push_back(run_row(run));
  return rows;
}

std::string number(double value, const char* format = "%.6g") {
  if (std::isnan(value)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// ", forward-error bound B" (kappa/dense_solve.hpp), "(uncertain)" above the tolerance a
// trusted reference meets; empty where the solver gives none (the kernel system's eigensolve).
std::string bound_text(const DirectSolution& reference) {
  if (!std::isfinite(reference.forward_error_bound)) return "";
  return ", forward-error bound " + number(reference.forward_error_bound) +
         (reference.forward_error_bound > kForwardErrorTolerance ? " (uncertain: above " + number(kForwardErrorTolerance) + ")" : "");
}

std::string json_bool(bool value) { return value ? "true" : "false"; }

// "lr=0.001;beta1=0.9": one CSV field (no commas) that pandas keeps as text.
std::string params_text(const ParamText* params) {
  std::string text;
  if (params)
    for (const auto& [name, value] : *params) text += (text.empty() ? "" : ";") + name + "=" + value;
  return text;
}

// ---------------------------------------------------------------------------------------------
// Table

// The labels say what the direct solver's residuals are: with a ridge, the normal-equation
// residual is that of the ridge-stacked system it solved (see direct.hpp).
std::string residual_text(const DirectSolution& reference, const LossSpec& loss) {
  const bool stacked = loss.kind == LossKind::l2 && loss.ridge != 0;
  return ", |A w* - y| " + number(reference.residual_norm) +
         (stacked ? ", normal residual of the ridge system " : ", |A^T (A w* - y)| ") + number(reference.normal_residual_norm);
}

// The condition number is numerical_rank's (kappa/dense_solve.hpp), in the words kappa diagnose
// uses too: "inf (rank r of d; nonzero spectrum ...)" when rank-deficient, "undefined" for a zero
// design (e.g. one sample with an intercept, whose centred design is 0).
std::string reference_line(const Experiment& experiment) {
  const DirectSolution& reference = experiment.reference();
  const std::optional<NumericalRank>& system_rank = experiment.reference_design().rank;
  const LossSpec& loss = experiment.setup().loss;
  if (experiment.setup().formulation == Formulation::kernel_system) {
    // The svd reference's "singular values" are the eigenvalues of K + lambda I (kernel_system.hpp).
    std::string line = "reference: " + to_string(reference.method) + ", rank " + std::to_string(reference.rank) + " of " +
                       std::to_string(reference.w.n_elem) + ", |alpha*| " + number(arma::norm(reference.w)) +
                       ", |(K + lambda I) alpha* - y| " + number(reference.residual_norm);
    if (system_rank) {
      const Vec& eigenvalues = reference.singular_values;
      line += ", eigenvalues of K + lambda I " + number(eigenvalues.max()) + " to " + number(eigenvalues.min()) + ", cond " +
              condition_text(*system_rank);
    }
    return line + '\n';
  }
  std::string line = "reference: " + to_string(reference.method) + ", rank " + std::to_string(reference.rank) + " of " +
                     std::to_string(reference.w.n_elem) + ", |w*| " + number(arma::norm(reference.w)) +
                     residual_text(reference, loss) + bound_text(reference);
  // The singular values are those of the system the SVD solved: the design itself only for a
  // plain l2 loss (ridge adds rows, l1/huber reweight them); with an intercept the centred one.
  if (system_rank && loss.kind == LossKind::l2 && loss.ridge == 0) {
    const Vec& sigma = reference.singular_values;
    line += std::string(loss.intercept ? ", centred design" : ", design") + " sigma_max " + number(sigma.max()) + ", sigma_min " +
            number(sigma.min()) + ", cond " + condition_text(*system_rank);
  }
  return line + '\n';
}

// Whether the table shows rel_w_err_range: when the design has a null space that the reference
// knows (rank-deficient, or fewer samples than weights), so that minimizers are not unique.
bool shows_range_error(const Experiment& experiment) {
  const RowSpaceProjection& row_space = experiment.reference_design().row_space;
  return row_space.known() && row_space.null_dimension() > 0;
}

// What w* is when the minimizers are not unique (rank < number of weights), and what each
// weight error counts (docs/conventions.md).
std::string minimum_norm_note(const Experiment& experiment) {
  const DirectSolution& reference = experiment.reference();
  if (reference.rank >= reference.w.n_elem) return "";
  const Formulation formulation = experiment.setup().formulation;
  const LossSpec& loss = experiment.setup().loss;
  const std::string name = formulation == Formulation::kernel_system ? "alpha*" : "w*";
  const std::string what = formulation == Formulation::regression && loss.kind == LossKind::l2 && loss.intercept
                               ? " has the minimum-norm feature weights (the intercept as scikit-learn's fit_intercept)"
                           : formulation == Formulation::regression && loss.kind != LossKind::l2
                               ? " has no null-space component (IRLS of minimum-norm steps)"
                               : " is the minimum-norm minimizer";
  return "minimizers are not unique (rank " + std::to_string(reference.rank) + " of " + std::to_string(reference.w.n_elem) +
         ": a null-space vector of the design changes no prediction): " + name + what + "; rel_w_err counts null-space components" +
         (shows_range_error(experiment) ? ", rel_w_err_range = |P (w - w*)| / |w*| (P onto range(A^T)) does not\n"
                                        : " (this reference keeps no null-space basis: no rel_w_err_range)\n");
}

std::string table_header(const SolveReport& report) {
  const Experiment& experiment = *report.experiment;
  std::string text = "data: " + experiment.data().source + "  (" + std::to_string(experiment.problem().num_samples()) +
                     " samples, " + std::to_string(experiment.problem().dim()) + " weights)\n" +
                     (experiment.setup().formulation == Formulation::kernel_system
                          ? "formulation: kernel-system, f(a) = 1/2 a^T (K + lambda I) a - y^T a + c, lambda = " +
                                number(experiment.setup().loss.ridge)
                          : "loss: " + to_string(experiment.setup().loss.kind)) +
                     "   preconditioner: " + experiment.preconditioner().name() +
                     (experiment.setup().precision == Precision::float64 ? std::string()
                                                                         : "   precision: " + to_string(experiment.setup().precision) +
                                                                               " (runs; reference in double)") +
                     '\n' + reference_line(experiment);
  if (!experiment.reference().note.empty()) text += "reference note: " + experiment.reference().note + '\n';
  return text + minimum_norm_note(experiment) + '\n';
}

// The predicted iterations: "-" without a prediction, "inf" when the method does not converge,
// "<=N" for a worst-case bound (CG's, the accelerated one), which measurements often beat by far.
std::string predicted_text(double predicted, bool bound) {
  if (std::isnan(predicted)) return "-";
  if (std::isinf(predicted)) return "inf";
  return (bound ? "<=" : "") + number(predicted, predicted < 1e8 ? "%.0f" : "%.2g");
}

// One table line from its cells; the rel_w_err_range cell only when `range` is given.
std::string table_cells(const std::vector<std::string>& cells, const std::string* range) {
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-19s %8s %9s %9s %9s %13s %11s %11s", cells[0].c_str(), cells[1].c_str(), cells[2].c_str(),
                cells[3].c_str(), cells[4].c_str(), cells[5].c_str(), cells[6].c_str(), cells[7].c_str(), cells[8].c_str());
  std::string text = line;
  if (range) {
    std::snprintf(line, sizeof line, " %15s", range->c_str());
    text += line;
  }
  std::snprintf(line, sizeof line, " %11s\n", cells[9].c_str());
  return text + line;
}

std::string table_line(const Row& row, bool range_column) {
  const std::string range = number(row.evaluation.relative_weight_error_range, "%.3e");
  return table_cells({row.method, row.status, std::to_string(row.iterations), predicted_text(row.predicted_iterations, row.predicted_is_bound),
                      number(row.data_passes, "%.7g"), number(row.seconds, "%.3g"), number(row.evaluation.train_loss, "%.6e"),
                      number(row.grad_norm, "%.3e"), number(row.evaluation.relative_weight_error, "%.3e"),
                      number(row.evaluation.test_mae, "%.6g")},
                     range_column ? &range : nullptr);
}

std::string table_messages(const std::vector<Row>& rows) {
  std::string text;
  for (const Row& row : rows)
    if (!row.message.empty() && !row.reference) text += row.method + ": " + row.message + '\n';
  std::string predictions;
  for (const Row& row : rows)
    if (!row.prediction.empty()) predictions += "  " + row.method + ": " + row.prediction + '\n';
  if (!predictions.empty()) text += (text.empty() ? "" : "\n") + std::string("predicted (theory, see kappa diagnose):\n") + predictions;
  return text.empty() ? text : '\n' + text;
}

// ---------------------------------------------------------------------------------------------
// JSON

std::string json_datasets(const DatasetPaths& paths) {
  return "{\"X_train\": " + json_string(paths.X_train) + ", \"y_train\": " + json_string(paths.y_train) +
         ", \"X_test\": " + json_string(paths.X_test) + ", \"y_test\": " + json_string(paths.y_test) + "}";
}

// Everything a run depends on besides the optimizer's parameters.
std::string json_setup(const SolveReport& report) {
  const Experiment& experiment = *report.experiment;
  const LossSpec& loss = experiment.setup().loss;
  const RunControls& controls = report.controls;
  std::ostringstream out;
  out << "{\"data\": " << json_string(experiment.data().source);
  if (report.file_paths) out << ", \"datasets\": " << json_datasets(*report.file_paths);
  out << ", \"loss\": " << json_string(to_string(loss.kind)) << ", \"huber_delta\": " << json_number(loss.huber_delta)
      << ", \"ridge\": " << json_number(loss.ridge) << ", \"intercept\": " << json_bool(loss.intercept)
      << ", \"preconditioner\": " << json_string(experiment.setup().preconditioner)
      << ", \"reference\": " << json_string(to_string(experiment.setup().reference_method))
      << ", \"formulation\": " << json_string(to_string(experiment.setup().formulation))
      << ", \"precision\": " << json_string(to_string(experiment.setup().precision))
      << ", \"max_iterations\": " << controls.max_iterations << ", \"max_epochs\": " << json_number(controls.max_epochs)
      << ", \"run_seed\": " << controls.seed << ", \"grad_tol\": " << json_number(controls.grad_tol)
      << ", \"loss_tol\": " << json_number(controls.loss_tol) << ", \"time_limit\": " << json_number(controls.time_limit)
      << ", \"divergence_factor\": " << json_number(controls.divergence_factor) << "}";
  return out.str();
}

std::string json_params(const ParamText* params) {
  std::string text = "{";
  if (params)
    for (const auto& [name, value] : *params) text += (text.size() > 1 ? ", " : "") + json_string(name) + ": " + json_string(value);
  return text + "}";
}

std::string json_trace(const std::vector<TracePoint>* trace) {
  std::ostringstream out;
  out << "[";
  bool first_point = true;
  if (trace)
    for (const TracePoint& point : *trace) {
      out << (first_point ? "" : ", ") << "{\"iteration\": " << point.iteration << ", \"seconds\": " << json_number(point.seconds)
          << ", \"epochs\": " << json_number(point.data_passes) << ", \"loss\": " << json_number(point.loss)
          << ", \"grad_norm\": " << json_number(point.grad_norm)
          << ", \"relative_weight_error\": " << json_number(point.relative_weight_error) << "}";
      first_point = false;
    }
  out << "]";
  return out.str();
}

// Predicted iterations: null without a prediction, the string "inf" when the method does not
// converge (JSON has no infinity).
std::string json_predicted(double predicted) {
  if (std::isinf(predicted)) return "\"inf\"";
  return json_number(predicted);
}

// The key of a quantity the study's results have too: its column name (study/schema.hpp).
template <class T>
std::string key(T TaskOutcome::*member) {
  return json_string(column_name(member));
}

std::string json_row(const Row& row) {
  const Evaluation& e = row.evaluation;
  std::ostringstream out;
  out << "{" << json_string(column_name(PlanColumn::optimizer)) << ": " << json_string(row.method)
      << ", " << key(&TaskOutcome::status) << ": " << json_string(row.status)
      << ", " << key(&TaskOutcome::message) << ": " << json_string(row.message)
      << ", " << json_string(column_name(PlanColumn::params)) << ": " << json_params(row.params)
      << ", " << key(&TaskOutcome::iterations) << ": " << row.iterations
      << ", " << key(&TaskOutcome::predicted_iterations) << ": " << json_predicted(row.predicted_iterations)
      << ", \"predicted_is_bound\": " << json_bool(row.predicted_is_bound)
      << ", \"prediction\": " << json_string(row.prediction)
      << ", " << key(&TaskOutcome::epochs) << ": " << json_number(row.data_passes - row.setup_passes)
      << ", " << key(&TaskOutcome::setup_epochs) << ": " << json_number(row.setup_passes)
      << ", " << key(&TaskOutcome::lr_used) << ": " << json_number(row.lr_used)
      << ", " << key(&TaskOutcome::seconds) << ": " << json_number(row.seconds)
      << ", " << key(&TaskOutcome::final_loss) << ": " << json_number(e.train_loss)
      << ", " << key(&TaskOutcome::loss_gap) << ": " << json_number(e.loss_gap)
      << ", " << key(&TaskOutcome::grad_norm) << ": " << json_number(row.grad_norm)
      << ", " << key(&TaskOutcome::relative_weight_error) << ": " << json_number(e.relative_weight_error)
      << ", " << key(&TaskOutcome::relative_weight_error_range) << ": " << json_number(e.relative_weight_error_range)
      << ", " << key(&TaskOutcome::weight_norm) << ": " << json_number(e.weight_norm)
      << ", " << key(&TaskOutcome::test_mae) << ": " << json_number(e.test_mae)
      << ", " << key(&TaskOutcome::test_rmse) << ": " << json_number(e.test_rmse);
  if (row.reference)
    out << ", \"residual_norm\": " << json_number(row.residual_norm)
        << ", \"normal_residual_norm\": " << json_number(row.normal_residual_norm);
  out << ", \"weights\": [";
  if (row.weights)
    for (Index i = 0; i < row.weights->n_elem; ++i) out << (i ? ", " : "") << json_number((*row.weights)(i));
  out << "], \"trace\": " << json_trace(row.trace) << "}";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// CSV

// The columns of kappa solve's CSV, in order: the row's own, then the setup's, the same on every
// row (tidy data: each row stands alone), then the parameters. Header and rows come from this.
struct CsvColumn {
  const char* name;
  std::function<std::string(const Row&, const SolveReport&)> value;
};

// As the study's CSV writes them (csv_cell): reals that read back as floats, "" for empty text.
std::string exact(double value) { return csv_cell(Cell(value)); }
std::string csv_text(const std::string& value) { return csv_cell(Cell(value)); }

const std::vector<CsvColumn>& csv_columns() {
  using R = const Row&;
  using S = const SolveReport&;
  const auto setup = [](S report) -> const ExperimentSetup& { return report.experiment->setup(); };
  static const std::vector<CsvColumn> columns = {
      {column_name(PlanColumn::optimizer), [](R row, S) { return csv_field(row.method); }},
      {column_name(&TaskOutcome::status), [](R row, S) { return row.status; }},
      {column_name(&TaskOutcome::message), [](R row, S) { return csv_text(row.message); }},
      {column_name(&TaskOutcome::iterations), [](R row, S) { return std::to_string(row.iterations); }},
      {column_name(&TaskOutcome::predicted_iterations), [](R row, S) { return exact(row.predicted_iterations); }},
      {column_name(&TaskOutcome::epochs), [](R row, S) { return exact(row.data_passes - row.setup_passes); }},
      {column_name(&TaskOutcome::setup_epochs), [](R row, S) { return exact(row.setup_passes); }},
      {column_name(&TaskOutcome::lr_used), [](R row, S) { return exact(row.lr_used); }},
      {column_name(&TaskOutcome::seconds), [](R row, S) { return exact(row.seconds); }},
      {column_name(&TaskOutcome::final_loss), [](R row, S) { return exact(row.evaluation.train_loss); }},
      {column_name(&TaskOutcome::loss_gap), [](R row, S) { return exact(row.evaluation.loss_gap); }},
      {column_name(&TaskOutcome::grad_norm), [](R row, S) { return exact(row.grad_norm); }},
      {column_name(&TaskOutcome::relative_weight_error), [](R row, S) { return exact(row.evaluation.relative_weight_error); }},
      {column_name(&TaskOutcome::relative_weight_error_range), [](R row, S) { return exact(row.evaluation.relative_weight_error_range); }},
      {column_name(&TaskOutcome::weight_norm), [](R row, S) { return exact(row.evaluation.weight_norm); }},
      {column_name(&TaskOutcome::test_mae), [](R row, S) { return exact(row.evaluation.test_mae); }},
      {column_name(&TaskOutcome::test_rmse), [](R row, S) { return exact(row.evaluation.test_rmse); }},
      {"residual_norm", [](R row, S) { return exact(row.residual_norm); }},
      {"normal_residual_norm", [](R row, S) { return exact(row.normal_residual_norm); }},
      {"loss", [setup](R, S report) { return to_string(setup(report).loss.kind); }},
      {"huber_delta", [setup](R, S report) { return exact(setup(report).loss.huber_delta); }},
      {"ridge", [setup](R, S report) { return exact(setup(report).loss.ridge); }},
      {"intercept", [setup](R, S report) { return std::string(setup(report).loss.intercept ? "true" : "false"); }},
      {"preconditioner", [setup](R, S report) { return csv_text(setup(report).preconditioner); }},
      {"reference", [setup](R, S report) { return to_string(setup(report).reference_method); }},
      {"formulation", [setup](R, S report) { return to_string(setup(report).formulation); }},
      {"precision", [setup](R, S report) { return to_string(setup(report).precision); }},
      {"data", [](R, S report) { return csv_text(report.experiment->data().source); }},
      {"max_iterations", [](R, S report) { return std::to_string(report.controls.max_iterations); }},
      {"max_epochs", [](R, S report) { return exact(report.controls.max_epochs); }},
      {"run_seed", [](R, S report) { return std::to_string(report.controls.seed); }},
      {"grad_tol", [](R, S report) { return exact(report.controls.grad_tol); }},
      {"loss_tol", [](R, S report) { return exact(report.controls.loss_tol); }},
      {"time_limit", [](R, S report) { return exact(report.controls.time_limit); }},
      {"params", [](R row, S) { return csv_text(params_text(row.params)); }},
  };
  return columns;
}

}  // namespace

std::string format_table(const SolveReport& report) {
  const std::vector<Row> rows = rows_of(report);
  const bool range_column = shows_range_error(*report.experiment);
  const std::string range_header = "rel_w_err_range";
  std::string text = table_header(report) + table_cells({"method", "status", "iters", "predicted", "passes", "seconds", "train_loss",
                                                          "grad_norm", "rel_w_err", "test_mae"},
                                                         range_column ? &range_header : nullptr);
  for (const Row& row : rows) text += table_line(row, range_column);
  return text + table_messages(rows);
}

std::string format_csv(const SolveReport& report) {
  const std::vector<CsvColumn>& columns = csv_columns();
  std::string text;
  for (std::size_t c = 0; c < columns.size(); ++c) text += (c > 0 ? "," : "") + std::string(columns[c].name);
  text += '\n';
  for (const Row& row : rows_of(report))
    for (std::size_t c = 0; c < columns.size(); ++c) text += (c > 0 ? "," : "") + columns[c].value(row, report) + (c + 1 == columns.size() ? "\n" : "");
  return text;
}

std::string format_json(const SolveReport& report) {
  const Experiment& experiment = *report.experiment;
  std::ostringstream out;
  out << "{\n  \"data\": " << json_string(experiment.data().source) << ",\n  \"samples\": " << experiment.problem().num_samples()
      << ",\n  \"dim\": " << experiment.problem().dim() << ",\n  \"loss\": " << json_string(to_string(experiment.setup().loss.kind))
      << ",\n  \"preconditioner\": " << json_string(experiment.preconditioner().name())
      << ",\n  \"setup\": " << json_setup(report) << ",\n  \"rows\": [";
  bool first_row = true;
  for (const Row& row : rows_of(report)) {
    out << (first_row ? "" : ",") << "\n    " << json_row(row);
    first_row = false;
  }
  out << "\n  ]\n}\n";
  return out.str();
}

}  // namespace kappa::cli
