#include "report_writer.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace kappa::cli {
namespace {

// One tidy row per method: the direct reference first, then each optimizer run.
struct Row {
  std::string method;
  std::string status;
  std::string message;
  long iterations = 0;
  double data_passes = 0;
  double seconds = 0;
  real grad_norm = 0;
  Evaluation evaluation;
  const std::vector<TracePoint>* trace = nullptr;
};

std::vector<Row> rows_of(const SolveReport& report) {
  std::vector<Row> rows;
  const Experiment& experiment = *report.experiment;
  const DirectSolution& reference = experiment.reference();
  Vec gradient;
  experiment.problem().loss_grad(reference.w, gradient);
  Row direct;
  direct.method = "direct:" + to_string(reference.method);
  direct.status = "reference";
  direct.message = "rank " + std::to_string(reference.rank) + "/" + std::to_string(reference.w.n_elem);
  direct.iterations = reference.irls_iterations;
  direct.seconds = reference.seconds;
  direct.grad_norm = arma::norm(gradient);
  direct.evaluation = experiment.reference_evaluation();
  rows.push_back(direct);
  for (const RunResult& run : report.runs) {
    Row row;
    row.method = run.optimizer;
    row.status = to_string(run.status);
    row.message = run.message;
    row.iterations = run.iterations;
    row.data_passes = run.data_passes;
    row.seconds = run.seconds;
    row.grad_norm = run.grad_norm;
    row.evaluation = run.evaluation;
    row.trace = &run.trace;
    rows.push_back(row);
  }
  return rows;
}

std::string number(double value, const char* format = "%.6g") {
  if (std::isnan(value)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string json_string(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          quoted += escaped;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

// JSON has no NaN: absent values are null.
std::string json_number(double value) { return std::isfinite(value) ? number(value, "%.17g") : "null"; }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string format_table(const SolveReport& report) {
  std::ostringstream out;
  const DirectSolution& reference = report.experiment->reference();
  out << "data: " << report.data_source << "  (" << report.samples << " samples, " << report.dim << " weights)\n"
      << "loss: " << report.loss << "   preconditioner: " << report.preconditioner << '\n';
  out << "reference: " << to_string(reference.method) << ", rank " << reference.rank << " of " << reference.w.n_elem
      << ", |w*| " << number(arma::norm(reference.w));
  // The singular values are those of the system the SVD solved: the design itself only for a
  // plain l2 loss (ridge adds rows, l1/huber reweight them).
  const LossSpec& loss = report.experiment->setup().loss;
  if (!reference.singular_values.is_empty() && loss.kind == LossKind::l2 && loss.ridge == 0) {
    const Vec& sigma = reference.singular_values;
    out << ", design sigma_max " << number(sigma.max()) << ", sigma_min " << number(sigma.min()) << ", cond "
        << number(sigma.max() / sigma.min());
  }
  out << '\n';
  if (!reference.note.empty()) out << "reference note: " << reference.note << '\n';
  out << '\n';
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-19s %8s %9s %9s %13s %11s %11s %11s\n", "method", "status", "iters", "passes",
                "seconds", "train_loss", "grad_norm", "rel_w_err", "test_mae");
  out << line;
  for (const Row& row : rows_of(report)) {
    std::snprintf(line, sizeof line, "%-16s %-19s %8ld %9s %9s %13s %11s %11s %11s\n", row.method.c_str(), row.status.c_str(),
                  row.iterations, number(row.data_passes, "%.7g").c_str(), number(row.seconds, "%.3g").c_str(),
                  number(row.evaluation.train_loss, "%.6e").c_str(), number(row.grad_norm, "%.3e").c_str(),
                  number(row.evaluation.relative_weight_error, "%.3e").c_str(), number(row.evaluation.test_mae, "%.6g").c_str());
    out << line;
  }
  bool any_message = false;
  for (const Row& row : rows_of(report)) {
    if (row.message.empty() || row.status == "reference") continue;
    if (!any_message) out << '\n';
    any_message = true;
    out << row.method << ": " << row.message << '\n';
  }
  return out.str();
}

std::string format_csv(const SolveReport& report) {
  std::ostringstream out;
  out << "method,status,message,iterations,data_passes,seconds,train_loss,loss_gap,grad_norm,relative_weight_error,"
         "weight_norm,test_mae,test_rmse\n";
  for (const Row& row : rows_of(report)) {
    const Evaluation& e = row.evaluation;
    out << csv_field(row.method) << ',' << row.status << ',' << csv_field(row.message) << ',' << row.iterations << ','
        << number(row.data_passes, "%.17g") << ',' << number(row.seconds, "%.6g") << ',' << number(e.train_loss, "%.17g") << ','
        << number(e.loss_gap, "%.17g") << ',' << number(row.grad_norm, "%.17g") << ','
        << number(e.relative_weight_error, "%.17g") << ',' << number(e.weight_norm, "%.17g") << ','
        << number(e.test_mae, "%.17g") << ',' << number(e.test_rmse, "%.17g") << '\n';
  }
  return out.str();
}

std::string format_json(const SolveReport& report) {
  std::ostringstream out;
  out << "{\n  \"data\": " << json_string(report.data_source) << ",\n  \"samples\": " << report.samples
      << ",\n  \"dim\": " << report.dim << ",\n  \"loss\": " << json_string(report.loss)
      << ",\n  \"preconditioner\": " << json_string(report.preconditioner) << ",\n  \"rows\": [";
  bool first_row = true;
  for (const Row& row : rows_of(report)) {
    const Evaluation& e = row.evaluation;
    out << (first_row ? "" : ",") << "\n    {\"method\": " << json_string(row.method) << ", \"status\": " << json_string(row.status)
        << ", \"message\": " << json_string(row.message) << ", \"iterations\": " << row.iterations
        << ", \"data_passes\": " << json_number(row.data_passes) << ", \"seconds\": " << json_number(row.seconds)
        << ", \"train_loss\": " << json_number(e.train_loss) << ", \"loss_gap\": " << json_number(e.loss_gap)
        << ", \"grad_norm\": " << json_number(row.grad_norm) << ", \"relative_weight_error\": " << json_number(e.relative_weight_error)
        << ", \"weight_norm\": " << json_number(e.weight_norm) << ", \"test_mae\": " << json_number(e.test_mae)
        << ", \"test_rmse\": " << json_number(e.test_rmse) << ", \"trace\": [";
    bool first_point = true;
    if (row.trace)
      for (const TracePoint& point : *row.trace) {
        out << (first_point ? "" : ", ") << "{\"iteration\": " << point.iteration << ", \"seconds\": " << json_number(point.seconds)
            << ", \"data_passes\": " << json_number(point.data_passes) << ", \"loss\": " << json_number(point.loss)
            << ", \"grad_norm\": " << json_number(point.grad_norm)
            << ", \"relative_weight_error\": " << json_number(point.relative_weight_error) << "}";
        first_point = false;
      }
    out << "]}";
    first_row = false;
  }
  out << "\n  ]\n}\n";
  return out.str();
}

}  // namespace kappa::cli
