// Preconditioner chains: syntax, fitting a chain link by link, and the transformed problem
// g(z) = c f(P z). The preconditioners themselves are in preconditioner_diagonal.cpp (none,
// center, standardize, equilibrate, target-scale, jacobi) and preconditioner_dense.cpp (whiten,
// sketch, spectral).

#include "core/preconditioners/preconditioner.hpp"

#include <algorithm>
#include <cmath>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/preconditioners/fit.hpp"

namespace kappa {
namespace {

// ---------------------------------------------------------------- syntax

enum class OptionType { choice, integer, real_number };

struct OptionSpec {
  std::string key;
  OptionType type;
  std::vector<std::string> choices;  // choice options
  real minimum = 0;                  // numeric options: the smallest value allowed
  std::string describe() const {
    if (type == OptionType::choice) return key + "=" + join(choices, "|");
    return key + "=" + (type == OptionType::integer ? "an integer" : "a number") + " >= " + format_number(minimum);
  }
};

struct KindSpec {
  std::string name;
  std::vector<OptionSpec> options;
};

const std::vector<KindSpec>& kinds() {
  static const std::vector<KindSpec> table = {
      {"none", {}},
      {"center", {}},
      {"standardize", {}},
      {"equilibrate", {{"norm", OptionType::choice, {"2", "max"}}}},
      {"target-scale", {{"by", OptionType::choice, {"rms", "max"}}}},
      {"jacobi", {}},
      {"whiten", {}},
      {"sketch",
       {{"kind", OptionType::choice, {"gaussian", "sparse"}},
        {"gamma", OptionType::real_number, {}, 1},
        {"seed", OptionType::integer, {}, 0}}},
      {"spectral", {{"k", OptionType::integer, {}, 1}}},
  };
  return table;
}

std::string prefix(const std::string& chain) { return "preconditioner '" + chain + "': "; }

// "preconditioner '<chain>': '<item>'", or "preconditioner '<item>'" for a chain of one item.
std::string item_prefix(const std::string& chain, const std::string& item) {
  if (trim(chain) == item) return "preconditioner '" + chain + "'";
  return prefix(chain) + "'" + item + "'";
}

std::string known_options(const KindSpec& kind) {
  if (kind.options.empty()) return "'" + kind.name + "' takes no options";
  std::vector<std::string> described;
  for (const OptionSpec& option : kind.options) described.push_back(option.describe());
  return "options of '" + kind.name + "': " + join(described, ", ");
}

// Checks `value` against `spec`; InputError naming the item otherwise.
void check_value(const OptionSpec& spec, const std::string& value, const std::string& where) {
  const std::string what = where + ": option '" + spec.key + "'";
  if (spec.type == OptionType::choice) {
    if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end())
      throw InputError(what + " = '" + value + "': expected " + join(spec.choices, " or "));
    return;
  }
  const real number = spec.type == OptionType::integer ? static_cast<real>(parse_integer(value, what)) : parse_real(value, what);
  if (number < spec.minimum)
    throw InputError(what + " = " + value + ": expected " + (spec.type == OptionType::integer ? "an integer" : "a number") +
                     " >= " + format_number(spec.minimum));
}

PreconditionerItem parse_item(const std::string& chain, const std::string& text) {
  const std::string where = item_prefix(chain, text);
  std::vector<std::string> parts;
  for (std::string::size_type begin = 0;;) {
    const auto colon = text.find(':', begin);
    parts.push_back(trim(text.substr(begin, colon == std::string::npos ? std::string::npos : colon - begin)));
    if (colon == std::string::npos) break;
    begin = colon + 1;
  }
  PreconditionerItem item;
  item.name = parts.front();
  item.text = text;
  if (item.name.empty()) throw InputError(where + ": no preconditioner name before ':'");
  const auto kind = std::find_if(kinds().begin(), kinds().end(), [&](const KindSpec& k) { return k.name == item.name; });
  if (kind == kinds().end())
    throw InputError(prefix(chain) + "unknown preconditioner '" + item.name + "' (known: " + join(preconditioner_names(), ", ") + ")");
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (part.empty()) throw InputError(where + ": empty option (nothing after ':'); " + known_options(*kind));
    const auto equals = part.find('=');
    const OptionSpec* spec = nullptr;
    std::string value;
    if (equals != std::string::npos) {
      const std::string key = trim(part.substr(0, equals));
      value = trim(part.substr(equals + 1));
      for (const OptionSpec& candidate : kind->options)
        if (candidate.key == key) spec = &candidate;
      if (key.empty()) throw InputError(where + ": option '" + part + "' has no name before '='; " + known_options(*kind));
      if (!spec) throw InputError(where + ": unknown option '" + key + "'; " + known_options(*kind));
      if (value.empty()) throw InputError(where + ": option '" + key + "' has no value");
    } else {  // a bare value of a choice option
      value = part;
      for (const OptionSpec& candidate : kind->options)
        if (candidate.type == OptionType::choice &&
            std::find(candidate.choices.begin(), candidate.choices.end(), part) != candidate.choices.end())
          spec = &candidate;
      if (!spec) throw InputError(where + ": unknown option '" + part + "'; " + known_options(*kind));
    }
    check_value(*spec, value, where);
    if (!item.options.emplace(spec->key, value).second)
      throw InputError(where + ": option '" + spec->key + "' given twice");
  }
  return item;
}

// ---------------------------------------------------------------- chains

// P = P_1 P_2 ... P_k: w = P_1 (P_2 (... z)), c = c_1 c_2 ... c_k.
class Chain final : public Preconditioner {
 public:
  explicit Chain(std::vector<std::unique_ptr<Preconditioner>> links) : links_(std::move(links)) {}
  std::string name() const override {
    std::vector<std::string> names;
    for (const auto& link : links_) names.push_back(link->name());
    return join(names, ",");
  }
  Vec to_original(const Vec& z) const override {
    Vec w = z;
    for (auto link = links_.rbegin(); link != links_.rend(); ++link) w = (*link)->to_original(w);
    return w;
  }
  Vec to_solver(const Vec& w) const override {
    Vec z = w;
    for (const auto& link : links_) z = link->to_solver(z);
    return z;
  }
  Vec gradient_to_solver(const Vec& g) const override {  // P^T = P_k^T ... P_1^T
    Vec gz = g;
    for (const auto& link : links_) gz = link->gradient_to_solver(gz);
    return gz;
  }
  Mat transform_design(const Mat& M) const override {
    Mat transformed = links_.front()->transform_design(M);
    for (std::size_t i = 1; i < links_.size(); ++i) transformed = links_[i]->transform_design(transformed);
    return transformed;
  }
  real objective_scale() const override {
    real scale = 1;
    for (const auto& link : links_) scale *= link->objective_scale();
    return scale;
  }
  bool needs_transformed_design() const override {
    return std::any_of(links_.begin(), links_.end(), [](const auto& link) { return link->needs_transformed_design(); });
  }

 private:
  std::vector<std::unique_ptr<Preconditioner>> links_;
};

std::unique_ptr<Preconditioner> fit_link(const PreconditionerItem& item, const detail::FitContext& context) {
  if (item.name == "none") return detail::fit_identity(item);
  if (item.name == "center") return detail::fit_center(item, context);
  if (item.name == "standardize") return detail::fit_standardize(item, context);
  if (item.name == "equilibrate") return detail::fit_equilibrate(item, context);
  if (item.name == "target-scale") return detail::fit_target_scale(item, context);
  if (item.name == "jacobi") return detail::fit_jacobi(item, context);
  if (item.name == "whiten") return detail::fit_whiten(item, context);
  if (item.name == "sketch") return detail::fit_sketch(item, context);
  if (item.name == "spectral") return detail::fit_spectral(item, context);
  throw InputError(prefix(context.chain) + "unknown preconditioner '" + item.name + "'");  // parse refused it already
}

}  // namespace

// ---------------------------------------------------------------- FitContext

namespace detail {

std::string FitContext::where(const PreconditionerItem& item) const { return item_prefix(chain, item.text); }

Mat FitContext::ridge_rows() const {
  if (loss.ridge == 0 || regularizer.n_rows == 0) return Mat(0, design.n_cols);
  return std::sqrt(static_cast<real>(design.n_rows) * loss.ridge / curvature()) * regularizer;
}

real FitContext::target_scale() const {
  return loss.kind == LossKind::l1 ? 1 / objective_scale : 1 / std::sqrt(objective_scale);
}

bool FitContext::intercept_column_intact() const {
  if (!loss.intercept || design.n_cols == 0 || design.n_rows == 0) return false;
  const auto last = design.col(design.n_cols - 1);
  return last(0) != 0 && std::all_of(last.begin(), last.end(), [&](real value) { return value == last(0); });
}

std::string option(const PreconditionerItem& item, const std::string& key, const std::string& fallback) {
  const auto found = item.options.find(key);
  return found == item.options.end() ? fallback : found->second;
}

}  // namespace detail

std::vector<std::string> preconditioner_names() {
  std::vector<std::string> names;
  for (const KindSpec& kind : kinds()) names.push_back(kind.name);
  return names;
}

std::vector<PreconditionerItem> parse_preconditioner_chain(const std::string& chain) {
  if (trim(chain).empty())
    throw InputError(prefix(chain) + "empty chain (expected names such as none, standardize or center,whiten)");
  std::vector<PreconditionerItem> items;
  std::vector<std::string> parts;
  for (std::string::size_type begin = 0;;) {
    const auto comma = chain.find(',', begin);
    parts.push_back(trim(chain.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin)));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) {
      if (i + 1 == parts.size()) throw InputError(prefix(chain) + "trailing comma (nothing after the last ',')");
      throw InputError(prefix(chain) + "empty item " + std::to_string(i + 1) + " (nothing between two commas or before the first)");
    }
    items.push_back(parse_item(chain, parts[i]));
  }
  return items;
}

std::vector<PreconditionerItem> parse_preconditioner_chain(const std::string& chain, const LossSpec& loss) {
  std::vector<PreconditionerItem> items = parse_preconditioner_chain(chain);
  for (const PreconditionerItem& item : items)
    if (item.name == "center" && !loss.intercept)
      throw InputError(item_prefix(chain, item.text) +
                       " needs an intercept (--intercept): without an intercept column, centring the columns "
                       "changes the model; use standardize (which then only scales) or equilibrate");
  return items;
}

std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design, const Vec& targets,
                                                    const LossSpec& loss) {
  const std::vector<PreconditionerItem> items = parse_preconditioner_chain(chain, loss);
  if (design.is_empty()) throw InputError(prefix(chain) + "the design matrix is empty");
  if (!targets.is_empty() && targets.n_elem != design.n_rows)
    throw InputError(prefix(chain) + "the design has " + std::to_string(design.n_rows) + " rows but there are " +
                     std::to_string(targets.n_elem) + " targets");
  const Index features = loss.intercept ? design.n_cols - 1 : design.n_cols;
  // The ridge term (ridge/2) |w_f|^2 = (ridge/2) |D_f z|^2 before any link: D_f = the feature
  // rows of the identity. Each link maps it like the design (D_f P).
  Mat regularizer = loss.ridge > 0 ? Mat(arma::eye(features, design.n_cols)) : Mat(0, design.n_cols);
  std::vector<std::unique_ptr<Preconditioner>> links;
  Mat transformed;  // A P_prev from the second link on
  real objective_scale = 1;
  std::vector<std::string> previous;
  for (const PreconditionerItem& item : items) {
    const detail::FitContext context{links.empty() ? design : transformed, regularizer, targets, objective_scale, loss, chain,
                                     join(previous, ",")};
    links.push_back(fit_link(item, context));
    previous.push_back(item.text);
    if (&item != &items.back()) {  // the next link is fitted on the transformed problem
      transformed = links.back()->transform_design(links.size() == 1 ? design : transformed);
      if (!regularizer.is_empty()) regularizer = links.back()->transform_design(regularizer);
      objective_scale *= links.back()->objective_scale();
    }
  }
  if (links.size() == 1) return std::move(links.front());
  return std::make_unique<Chain>(std::move(links));
}

std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const LinearModelProblem& problem) {
  // The identity needs no data: no copy of the design (LinearModelProblem::design() makes one).
  const std::vector<PreconditionerItem> items = parse_preconditioner_chain(chain, problem.spec());
  if (items.size() == 1 && items.front().name == "none") return detail::fit_identity(items.front());
  return make_preconditioner(chain, problem.design(), problem.targets(), problem.spec());
}

std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design, bool intercept) {
  LossSpec loss;
  loss.intercept = intercept;
  return make_preconditioner(chain, design, Vec(), loss);
}

// ---------------------------------------------------------------- PreconditionedProblem

PreconditionedProblem::PreconditionedProblem(const Problem& base, const Preconditioner& preconditioner)
    : base_(base), preconditioner_(preconditioner), objective_scale_(preconditioner.objective_scale()) {}

PreconditionedProblem::PreconditionedProblem(const LinearModelProblem& base, const Preconditioner& preconditioner,
                                             PreconditionedEvaluation evaluation)
    : PreconditionedProblem(static_cast<const Problem&>(base), preconditioner) {
  if (evaluation == PreconditionedEvaluation::wrapped) return;
  LossSpec data_loss = base.spec();  // the ridge is added through P; A P already has the intercept column
  data_loss.ridge = 0;
  data_loss.intercept = false;
  transformed_ = std::make_unique<const LinearModelProblem>(preconditioner.transform_design(base.design()), base.targets(),
                                                            data_loss, base.precision());
  ridge_ = base.spec().ridge;
  num_features_ = base.spec().intercept ? base.dim() - 1 : base.dim();
}

PreconditionedProblem::~PreconditionedProblem() = default;

real PreconditionedProblem::ridge_term(const Vec& z) const {
  if (ridge_ == 0) return 0;
  const real norm = arma::norm(preconditioner_.to_original(z).head(num_features_));
  return 0.5 * ridge_ * norm * norm;
}

void PreconditionedProblem::add_ridge_gradient(const Vec& z, Vec& gradient) const {
  if (ridge_ == 0) return;
  Vec w = preconditioner_.to_original(z);
  w.tail(w.n_elem - num_features_).zeros();
  gradient += preconditioner_.gradient_to_solver(ridge_ * w);
}

real PreconditionedProblem::compute_loss(const Vec& z) const {
  if (transformed_) return objective_scale_ * (transformed_->loss(z) + ridge_term(z));
  return objective_scale_ * base_.loss(preconditioner_.to_original(z));
}

real PreconditionedProblem::compute_loss_grad(const Vec& z, Vec& gradient) const {
  real value;
  if (transformed_) {
    value = transformed_->loss_grad(z, gradient) + ridge_term(z);
    add_ridge_gradient(z, gradient);
  } else {
    Vec base_gradient;
    value = base_.loss_grad(preconditioner_.to_original(z), base_gradient);
    gradient = preconditioner_.gradient_to_solver(base_gradient);
  }
  if (objective_scale_ != 1) gradient *= objective_scale_;
  return objective_scale_ * value;
}

real PreconditionedProblem::compute_batch_loss_grad(const Vec& z, const IndexVec& rows, Vec& gradient) const {
  real value;
  if (transformed_) {  // the ridge term once per batch, as in LinearModelProblem
    value = transformed_->batch_loss_grad(z, rows, gradient) + ridge_term(z);
    add_ridge_gradient(z, gradient);
  } else {
    Vec base_gradient;
    value = base_.batch_loss_grad(preconditioner_.to_original(z), rows, base_gradient);
    gradient = preconditioner_.gradient_to_solver(base_gradient);
  }
  if (objective_scale_ != 1) gradient *= objective_scale_;
  return objective_scale_ * value;
}

void PreconditionedProblem::compute_hess_vec(const Vec& z, const Vec& v, Vec& out) const {
  if (transformed_) {
    transformed_->hess_vec(z, v, out);
    add_ridge_gradient(v, out);  // the ridge term is quadratic: its Hessian times v is its gradient at v
  } else {
    Vec base_out;
    base_.hess_vec(preconditioner_.to_original(z), preconditioner_.to_original(v), base_out);
    out = preconditioner_.gradient_to_solver(base_out);
  }
  if (objective_scale_ != 1) out *= objective_scale_;
}

void PreconditionedProblem::compute_curvature_bound_vec(const Vec& v, Vec& out) const {
  if (transformed_) {
    transformed_->curvature_bound_vec(v, out);
    add_ridge_gradient(v, out);
  } else {
    Vec base_out;
    base_.curvature_bound_vec(preconditioner_.to_original(v), base_out);
    out = preconditioner_.gradient_to_solver(base_out);
  }
  if (objective_scale_ != 1) out *= objective_scale_;
}

std::unique_ptr<PreconditionedProblem> make_solver_problem(const LinearModelProblem& base, const Preconditioner& preconditioner) {
  return std::make_unique<PreconditionedProblem>(base, preconditioner,
                                                 preconditioner.needs_transformed_design() ? PreconditionedEvaluation::materialized
                                                                                           : PreconditionedEvaluation::wrapped);
}

}  // namespace kappa
