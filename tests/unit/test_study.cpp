// The MPI-free parts of kappa study: grid files, task expansion and keys, the results file, the
// experiment cache and the task runner.
#define BOOST_TEST_MODULE study
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "core/data/dataset.hpp"
#include "kappa/error.hpp"
#include "core/experiment/experiment.hpp"
#include "core/loader/plugin_registry.hpp"
#include "study/fingerprint.hpp"
#include "study/grid.hpp"
#include "study/results.hpp"
#include "study/runner.hpp"
#include "study/schema.hpp"
#include "core/data/synthetic.hpp"
#include "test_support.hpp"

using namespace kappa;
using kappa::test::require_throws_naming;

namespace {

struct Plugins {
  Plugins() { registry.load_directories({KAPPA_TEST_PLUGIN_DIR}); }
  PluginRegistry registry;
};

StudyPlan plan_of(const PluginRegistry& registry, const std::string& text) { return plan_study(parse_grid(text, "g.ini"), registry); }

std::size_t column_of(const StudyPlan& plan, const std::string& name) {
  for (std::size_t c = 0; c < plan.columns.size(); ++c)
    if (plan.columns[c].name == name) return c;
  BOOST_FAIL("no column " << name);
  return 0;
}

std::string text_cell(const StudyPlan& plan, const StudyTask& task, const std::string& column) {
  return cell_text(task.cells[column_of(plan, column)]);
}

// A fresh directory under the system temporary directory, removed at the end.
struct TemporaryDirectory {
  TemporaryDirectory() {
    path = std::filesystem::temp_directory_path() / ("kappa_test_study_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
  }
  ~TemporaryDirectory() {
    std::error_code error;
    std::filesystem::remove_all(path, error);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::filesystem::path path;
};

const char* const kSmall = "kind=spectrum,n=40,d=6,noise=0.01,n_test=10";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Grid syntax

BOOST_AUTO_TEST_CASE(grid_syntax_sections_comments_quotes_and_repeated_keys) {
  const GridFile grid = parse_grid(
      "# comment line\n"
      "optimizer = gd  cg   # trailing comment\n"
      "\n"
      "data = \"a file.h5\" b.h5\n"
      "data = c.h5\r\n"
      "[adam]\n"
      "lr = 1e-3\n",
      "g.ini");
  BOOST_TEST_REQUIRE(grid.entries.size() == 3u);
  BOOST_TEST(grid.entries[0].key == "optimizer");
  BOOST_TEST((grid.entries[0].values == std::vector<std::string>{"gd", "cg"}));
  BOOST_TEST(grid.entries[1].key == "data");
  BOOST_TEST((grid.entries[1].values == std::vector<std::string>{"a file.h5", "b.h5", "c.h5"}));
  BOOST_TEST((grid.entries[1].lines == std::vector<int>{4, 4, 5}));
  BOOST_TEST(grid.entries[2].key == "adam.lr");
  BOOST_TEST(grid.entries[2].lines[0] == 7);
}

BOOST_AUTO_TEST_CASE(grid_syntax_hash_inside_quotes_is_part_of_the_value) {
  const GridFile grid = parse_grid("data = \"runs #2/a.h5\" b#c.h5 # a comment \"not a value\"\n"
                                   "optimizer = gd#cg\n", "g.ini");
  BOOST_TEST_REQUIRE(grid.entries.size() == 2u);
  BOOST_TEST((grid.entries[0].values == std::vector<std::string>{"runs #2/a.h5", "b"}));
  BOOST_TEST((grid.entries[1].values == std::vector<std::string>{"gd"}));
}

BOOST_AUTO_TEST_CASE(grid_syntax_errors_name_file_and_line) {
  require_throws_naming<InputError>([] { parse_grid("optimizer = gd\nnonsense\n", "g.ini"); }, {"g.ini:2:", "nonsense"});
  require_throws_naming<InputError>([] { parse_grid("lr =\n", "g.ini"); }, {"g.ini:1:", "'lr' has no value"});
  require_throws_naming<InputError>([] { parse_grid("\n\nlr = # nothing\n", "g.ini"); }, {"g.ini:3:", "'lr' has no value"});
  require_throws_naming<InputError>([] { parse_grid("data = \"open\n", "g.ini"); }, {"g.ini:1:", "unterminated quote"});
  require_throws_naming<InputError>([] { parse_grid("a,b = 1\n", "g.ini"); }, {"g.ini:1:", "invalid key 'a,b'"});
  require_throws_naming<InputError>([] { parse_grid("[adam\n", "g.ini"); }, {"g.ini:1:", "[section]"});
  require_throws_naming<InputError>([] { read_grid_file("/nonexistent/grid.ini"); }, {"/nonexistent/grid.ini", "cannot be read"});
}

// ---------------------------------------------------------------------------------------------
// Expansion into tasks

BOOST_FIXTURE_TEST_CASE(cartesian_product_with_repeats_in_problem_major_order, Plugins) {
  const StudyPlan plan = plan_of(registry, std::string("optimizer = gd cg\nsynthetic = ") + kSmall +
                                               "\nsynthetic.cond = 10 100 1000\nridge = 0 0.1\nrepeats = 2\nseed = 5\n");
  BOOST_TEST(plan.tasks.size() == 2u * 3u * 2u * 2u);
  BOOST_TEST(plan.problems.size() == 3u * 2u);  // cond x ridge; the optimizer is not part of it
  BOOST_TEST(plan.axes.size() == 3u);
  BOOST_TEST(plan.axes[0].name == "optimizer");
  BOOST_TEST(plan.axes[1].name == "synthetic.cond");
  BOOST_TEST(plan.axes[2].name == "ridge");
  // Tasks of a problem are adjacent, each problem appears in one block.
  std::set<std::size_t> finished;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    BOOST_TEST(plan.tasks[i].index == i);
    if (i > 0 && plan.tasks[i].problem != plan.tasks[i - 1].problem) finished.insert(plan.tasks[i - 1].problem);
    BOOST_TEST(finished.count(plan.tasks[i].problem) == 0u);
  }
  // Every combination exactly once, with run seeds 5 and 6.
  std::set<std::string> combinations;
  for (const StudyTask& task : plan.tasks) {
    BOOST_TEST((task.controls.seed == 5u + static_cast<std::uint64_t>(task.repeat)));
    combinations.insert(plan.optimizers[task.optimizer].name + "|" + plan.problems[task.problem].synthetic + "|" +
                        text_cell(plan, task, "ridge") + "|" + std::to_string(task.controls.seed));
  }
  BOOST_TEST(combinations.size() == plan.tasks.size());
  BOOST_TEST(plan.problems[0].synthetic == std::string(kSmall) + ",cond=10");
}

BOOST_FIXTURE_TEST_CASE(zip_groups_vary_together, Plugins) {
  const StudyPlan plan = plan_of(registry, std::string("optimizer = gd\nsynthetic = ") + kSmall +
                                               "\nsynthetic.n = 30 50 70\nsynthetic.d = 3 5 7\nlr = 1e-3 1e-2\nzip = synthetic.n,synthetic.d\n");
  BOOST_TEST(plan.tasks.size() == 3u * 2u);
  std::set<std::string> shapes;
  for (const StudyTask& task : plan.tasks) shapes.insert(text_cell(plan, task, "synthetic.n") + "x" + text_cell(plan, task, "synthetic.d"));
  BOOST_TEST((shapes == std::set<std::string>{"30x3", "50x5", "70x7"}));
  BOOST_TEST(plan.axes[0].zip == "synthetic.n,synthetic.d");
}

// Optimizer settings are held compactly (a kind and a grid point each) and described on demand,
// with the names, parameters and canonical texts of the tasks' columns; an instance is created
// only when asked for (a runner keeps the last few), but every setting is validated by planning.
BOOST_FIXTURE_TEST_CASE(optimizer_settings_are_described_on_demand, Plugins) {
  const StudyPlan plan = plan_of(registry, std::string("optimizer = gd momentum\nsynthetic = ") + kSmall +
                                               "\nlr = 1e-3 1e-2 0.1\nmomentum = 0 0.5\nrepeats = 2\n");
  BOOST_TEST(plan.optimizers.size() == 3u + 3u * 2u);  // gd has no momentum
  BOOST_TEST(plan.optimizers.kinds().size() == 2u);
  std::set<std::string> settings;
  for (const StudyTask& task : plan.tasks) {
    const PlannedOptimizer setting = plan.optimizers[task.optimizer];
    BOOST_TEST(setting.name == plan.optimizers.name(task.optimizer));
    BOOST_TEST(setting.name == text_cell(plan, task, "optimizer"));
    BOOST_TEST(setting.canonical == text_cell(plan, task, "params"));
    BOOST_TEST(setting.params.get_real("lr") == std::stod(text_cell(plan, task, "lr")));
    BOOST_TEST((setting.theory.method == plan.optimizers.theory(task.optimizer).method));
    BOOST_TEST(!setting.optimizer);
    settings.insert(setting.name + " " + setting.canonical);
  }
  BOOST_TEST(settings.size() == plan.optimizers.size());
  BOOST_TEST(plan.optimizers.create(0).optimizer != nullptr);
  BOOST_CHECK_THROW(plan.optimizers.at(plan.optimizers.size()), std::out_of_range);
  OptimizerInstances instances(plan.optimizers, 2);
  instances.get(0);
  instances.get(1);
  instances.get(0);
  BOOST_TEST(instances.creations() == 2u);
  instances.get(2);  // evicts 1, the least recently used
  BOOST_TEST(instances.get(1).canonical == plan.optimizers[1].canonical);
  BOOST_TEST(instances.creations() == 4u);
  BOOST_TEST(instances.get(1).optimizer != nullptr);
  BOOST_TEST(instances.creations() == 4u);
  // A value each parameter admits alone, refused by the optimizer's factory: still at planning.
  require_throws_naming<InputError>([this] { plan_of(registry, std::string("optimizer = lbfgs\nsynthetic = ") + kSmall + "\nc1 = 0.5\nc2 = 0.1 0.9\n"); },
                                    {"g.ini: optimizer 'lbfgs' with ", "c1=0.5", "c2=0.1", "need c1 < c2 < 1"});
}

BOOST_FIXTURE_TEST_CASE(keys_that_do_not_apply_are_dropped_and_left_empty, Plugins) {
  // cg has no lr; huber_delta applies to huber only; gd.lr wins over lr for gd.
  const StudyPlan plan = plan_of(registry, std::string("optimizer = gd cg adam\nsynthetic = ") + kSmall +
                                               "\nlr = 1e-3 1e-2\ngd.lr = 0.5\nloss = l2 huber\nhuber_delta = 0.5 2\n");
  // per loss: l2 (delta dropped): gd 1, cg 1, adam 2; huber: (gd 1, cg 1, adam 2) x 2 deltas
  BOOST_TEST(plan.tasks.size() == 4u + 8u);
  BOOST_TEST(plan.duplicates == 2u * 2u * 3u * 2u - 12u);
  for (const StudyTask& task : plan.tasks) {
    const std::string& optimizer = plan.optimizers.name(task.optimizer);
    const std::string lr = text_cell(plan, task, "lr");
    if (optimizer == "adam") BOOST_TEST((lr == "0.001" || lr == "0.01"));
    else BOOST_TEST(lr == "nan");
    if (optimizer == "gd") {
      BOOST_TEST(text_cell(plan, task, "gd.lr") == "0.5");
      BOOST_TEST(plan.optimizers[task.optimizer].params.get_real("lr") == 0.5);
    }
    const bool huber = text_cell(plan, task, "loss") == "huber";
    BOOST_TEST((text_cell(plan, task, "huber_delta") == "nan") == !huber);
    BOOST_TEST(text_cell(plan, task, "x_train").empty());  // synthetic data: no dataset paths
  }
}

BOOST_FIXTURE_TEST_CASE(numeric_parameters_are_numeric_columns_with_their_keyword_beside, Plugins) {
  const StudyPlan plan = plan_of(registry, std::string("optimizer = sgd cg\nsynthetic = ") + kSmall +
                                               "\nsgd.lr = auto 1e-3\nsgd.batch_size = full 2\n[sgd]\naveraging = none polyak\n");
  const auto type_of = [&](const std::string& name) {
    for (const ColumnSpec& column : plan.columns)
      if (column.name == name) return static_cast<int>(column.type);
    return -1;
  };
  BOOST_TEST(type_of("sgd.lr") == static_cast<int>(ColumnType::real));
  BOOST_TEST(type_of("sgd.lr_spec") == static_cast<int>(ColumnType::text));
  BOOST_TEST(type_of("sgd.batch_size") == static_cast<int>(ColumnType::real));  // 'full': NaN
  BOOST_TEST(type_of("sgd.batch_size_spec") == static_cast<int>(ColumnType::text));
  BOOST_TEST(type_of("sgd.averaging") == static_cast<int>(ColumnType::text));
  BOOST_TEST(type_of("sgd.averaging_spec") == -1);
  std::size_t autos = 0;
  for (const StudyTask& task : plan.tasks) {
    const std::string spec = text_cell(plan, task, "sgd.lr_spec");
    const std::string lr = text_cell(plan, task, "sgd.lr");
    if (plan.optimizers.name(task.optimizer) == "cg") BOOST_TEST((spec.empty() && lr == "nan"));
    else BOOST_TEST(((spec == "auto" && lr == "nan") || (spec == "0.001" && lr == "0.001")));
    autos += spec == "auto";
  }
  BOOST_TEST(autos == 4u);
  // A numeric integer parameter of every optimizer of the grid, without keywords: int64.
  const StudyPlan integers = plan_of(registry, std::string("optimizer = sgd\nsynthetic = ") + kSmall + "\nbatch_size = 1 2\n");
  bool found = false;
  for (const ColumnSpec& column : integers.columns)
    if (column.name == "batch_size") found = column.type == ColumnType::integer;
  BOOST_TEST(found);
}

BOOST_FIXTURE_TEST_CASE(task_keys_are_stable_and_normalized, Plugins) {
  const std::string base = std::string("synthetic = ") + kSmall + "\n";
  const StudyPlan a = plan_of(registry, "optimizer = gd cg\nlr = 1e-3\n" + base);
  const StudyPlan reordered = plan_of(registry, "optimizer = cg gd\n" + base + "lr = 0.0010\n");
  BOOST_TEST(a.grid_hash == reordered.grid_hash);
  std::set<std::string> keys_a, keys_r;
  for (const auto& task : a.tasks) keys_a.insert(task.key);
  for (const auto& task : reordered.tasks) keys_r.insert(task.key);
  BOOST_TEST((keys_a == keys_r));
  const StudyPlan other = plan_of(registry, "optimizer = gd cg\nlr = 2e-3\n" + base);
  BOOST_TEST(a.grid_hash != other.grid_hash);
  // FNV-1a test vectors (Fowler, Noll, Vo).
  BOOST_TEST(stable_hash("") == "cbf29ce484222325");
  BOOST_TEST(stable_hash("a") == "af63dc4c8601ec8c");
  BOOST_TEST(stable_hash("foobar") == "85944171f73967e8");
}

BOOST_FIXTURE_TEST_CASE(malformed_grids_name_file_line_and_key, Plugins) {
  const std::string data = std::string("synthetic = ") + kSmall + "\n";
  auto plan = [&](const std::string& text) { return [this, text] { plan_of(registry, text); }; };
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "lerning_rate = 0.1\n"),
                                    {"g.ini:3:", "key 'lerning_rate'", "unknown key"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "ridge = 0 abc\n"), {"g.ini:3:", "key 'ridge'", "'abc' is not a number"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "max_iterations = 1.5\n"), {"g.ini:3:", "max_iterations", "integer"});
  require_throws_naming<InputError>(plan(data + "optimizer = gd sgdx\n"), {"g.ini:2:", "key 'optimizer'", "unknown optimizer 'sgdx'"});
  require_throws_naming<InputError>(plan(data + "optimizer = gd,cg\n"), {"g.ini:2:", "separated by blanks"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "lr = -1\n"), {"g.ini:3:", "key 'lr'", "out of range"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "lr = fast\n"), {"g.ini:3:", "'fast' is not a number"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "adam.lr = 1\n"), {"g.ini:3:", "'adam' is not an optimizer of this grid"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "gd.nope = 1\n"), {"g.ini:3:", "unknown parameter 'nope'"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "grad_tol = 1\n"), {"g.ini:3:", "grad_tol"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "loss = l3\n"), {"g.ini:3:", "unknown loss 'l3'"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "preconditioner = whiten2\n"), {"g.ini:3:", "whiten2"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "lr = 1e-3 0.001\n"), {"g.ini:3:", "given twice"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "repeats = 0\n"), {"g.ini:3:", "repeats"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "seed = 1 2\n"), {"g.ini:3:", "seed takes one value"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "lr = 1 2 3\nmax_iterations = 5 6\nzip = lr,max_iterations\n"),
                                    {"g.ini:5:", "'lr' has 3 values but 'max_iterations' has 2"});
  require_throws_naming<InputError>(plan("optimizer = gd\n" + data + "zip = lr,ridge\n"), {"g.ini:3:", "'lr' is not a key of this grid"});
  // Synthetic specs are checked while planning, not left to fail every task at run time.
  require_throws_naming<InputError>(plan("optimizer = gd\nsynthetic = kind=spectrum,n=40,d=8\nsynthetic.cond = 1e2x 10\n"),
                                    {"g.ini", "key 'cond'", "1e2x"});
  require_throws_naming<InputError>(plan("optimizer = gd\nsynthetic = kind=bogus\n"), {"g.ini", "'bogus'"});
  require_throws_naming<InputError>(plan("optimizer = gd\nsynthetic = kind=spectrum,n=40,d=8\nformulation = kernel-system\n"),
                                    {"g.ini", "40 x 8", "square kernel"});
  require_throws_naming<InputError>(plan(data), {"g.ini", "no 'optimizer' key"});
  require_throws_naming<InputError>(plan("optimizer = gd\n"), {"g.ini", "no data"});
  require_throws_naming<InputError>(plan("optimizer = gd\ndata = x.h5\n" + data), {"g.ini", "not both"});
  require_throws_naming<InputError>(plan("optimizer = gd\ndata = x.h5\nsynthetic.cond = 10\n"), {"g.ini:3:", "needs synthetic specs"});
}

// The keys (and their order) of a grid with zip, repeats, a qualified parameter, settings that do
// not apply and duplicates, recorded with kappa before the plan became compact (the keys of
// format version 1: a change here breaks --resume of existing results files). Re-recorded when
// cg gained its `reorthogonalize` parameter (issue 13): the cg tasks' keys changed with it, as
// they should, since cg's iterations changed; the other optimizers' keys did not.
BOOST_FIXTURE_TEST_CASE(task_keys_are_those_of_format_version_1, Plugins) {
  const StudyPlan plan = plan_of(registry,
                                 "optimizer = gd adam sgd cg\nlr = 1e-3 0.01\nsynthetic = kind=spectrum,n=30,d=5,noise=0.01\n"
                                 "synthetic.cond = 1e1 1e3\nridge = 0 1e-2\nloss = l2 huber\nhuber_delta = 0.5 2\n"
                                 "max_iterations = 50 100\nzip = ridge,max_iterations\nrepeats = 2\nseed = 7\nadam.beta1 = 0.9 0.99\n");
  BOOST_TEST_REQUIRE(plan.tasks.size() == 216u);
  BOOST_TEST(plan.duplicates == 296u);
  BOOST_TEST(plan.tasks[0].key == "da37881a6fd07e69");
  BOOST_TEST(plan.tasks[100].key == "34884cb56da25799");
  BOOST_TEST(plan.tasks[215].key == "62b3483edd66eb10");
  std::string keys;
  for (const StudyTask& task : plan.tasks) keys += (task.index > 0 ? "\n" : "") + task.key;
  BOOST_TEST(stable_hash(keys) == "6d2aa5d31680cb78");  // every key, in task order
  BOOST_TEST(plan.grid_hash == "1f32192161b93e0c");
  // The plan derives each task from a fixed-size record; a task asked twice is the same task.
  BOOST_TEST(sizeof(StudyTaskRecord) == 24u);
  const StudyTask again = plan.tasks.at(100);
  BOOST_TEST(again.canonical == plan.tasks[100].canonical);
  BOOST_TEST(again.problem == plan.tasks.problem(100));
  BOOST_TEST(std::get<long long>(again.cells[plan.column(PlanColumn::task)]) == 100);
  BOOST_CHECK_THROW(plan.tasks.at(216), std::out_of_range);
}

// ---------------------------------------------------------------------------------------------
// Outcome messages and results files

// gd at two rates and cg on one small problem: three tasks.
StudyPlan three_task_plan(const PluginRegistry& registry) {
  StudyPlan plan = plan_of(registry, std::string("optimizer = gd cg\nsynthetic = ") + kSmall + "\nlr = 1e-3 1e-2\n");
  BOOST_TEST_REQUIRE(plan.tasks.size() == 3u);
  return plan;
}

TaskOutcome sample_outcome(const StudyPlan& plan, std::size_t task) {
  TaskOutcome o;
  o.task = task;
  o.key = plan.tasks[task].key;
  o.status = to_string(Status::failed);
  o.message = "a \"quoted\", comma\nand newline";
  o.iterations = 12;
  o.epochs = 13.5;
  o.seconds = 0.25;
  o.final_loss = 1.0 / 3.0;
  o.grad_norm = 1e-300;
  o.test_mae = arma::datum::nan;
  o.predicted_iterations = arma::datum::inf;
  o.samples = 40;
  o.features = 6;
  o.mpi_rank = 2;
  o.host = "node-7";
  for (long k = 0; k < 3; ++k) o.trace.push_back({k, 0.1 * k, 1.0 + k, 1.0 / (k + 1), 2.0 / (k + 1), 0.5});
  return o;
}

BOOST_AUTO_TEST_CASE(outcome_messages_round_trip_and_refuse_garbage) {
  TaskOutcome o;
  o.task = 7;
  o.key = "0123456789abcdef";
  o.status = to_string(Status::diverged);
  o.message = std::string("with\0nul", 8);
  o.final_loss = -0.0;
  o.relative_weight_error = arma::datum::nan;
  o.trace.push_back({3, 0.5, 4.0, 1e-20, 2.0, arma::datum::nan});
  const std::string bytes = encode_outcome(o);
  const TaskOutcome back = decode_outcome(bytes);
  BOOST_TEST(back.task == 7u);
  BOOST_TEST(back.message == o.message);
  BOOST_TEST(std::signbit(back.final_loss));
  BOOST_TEST(std::isnan(back.relative_weight_error));
  BOOST_TEST_REQUIRE(back.trace.size() == 1u);
  BOOST_TEST(back.trace[0].loss == 1e-20);
  require_throws_naming<Error>([&] { decode_outcome(bytes.substr(0, bytes.size() - 1)); }, "malformed");
  require_throws_naming<Error>([&] { decode_outcome(bytes + "x"); }, "malformed");
  require_throws_naming<Error>([&] { decode_outcome("nonsense"); }, "malformed");
}

// An outcome with a distinct value in every column of the schema (text with CSV's special
// characters), derived from kOutcomeFields alone: a new column is covered without a new line.
TaskOutcome distinct_outcome(std::size_t task, const std::string& key) {
  TaskOutcome o;
  o.task = task;
  o.key = key;
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) {
    const OutcomeField& field = kOutcomeFields[f];
    switch (field.type) {
      case ColumnType::integer: field.set(o, static_cast<long long>(1000 + f)); break;
      case ColumnType::real: field.set(o, 0.1 * static_cast<double>(f) - 1.0 / 3.0); break;
      case ColumnType::text: field.set(o, std::string(field.name) + ", \"" + std::to_string(f) + "\"\n"); break;
    }
  }
  o.status = to_string(Status::converged_loss);  // a real status: the file's readers parse it
  o.trace.push_back({1, 0.5, 2.0, 0.25, 0.125, arma::datum::nan});
  return o;
}

BOOST_AUTO_TEST_CASE(schema_tables_are_consistent) {
  // Every column name once, plan columns included (the grid's settings follow their own table).
  std::set<std::string> names;
  for (const PlanField& field : kPlanFields) BOOST_TEST(names.insert(field.name).second, field.name);
  for (const OutcomeField& field : kOutcomeFields) {
    BOOST_TEST(names.insert(field.name).second, field.name);
    BOOST_TEST(std::string(field.meaning).size() > 0u, field.name);
  }
  BOOST_TEST_REQUIRE(outcome_columns().size() == kOutcomeFieldCount);
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) {
    BOOST_TEST(outcome_columns()[f].name == kOutcomeFields[f].name);
    BOOST_TEST((outcome_columns()[f].type == kOutcomeFields[f].type));
  }
  BOOST_TEST(std::string(column_name(&TaskOutcome::method_class)) == "method_class");
  BOOST_TEST(std::string(column_name(PlanColumn::optimizer)) == "optimizer");
  // method_class follows predicted_iterations (format version 2).
  std::size_t predicted = 0, method = 0;
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) {
    if (kOutcomeFields[f].name == std::string("predicted_iterations")) predicted = f;
    if (kOutcomeFields[f].name == std::string("method_class")) method = f;
  }
  BOOST_TEST(method == predicted + 1);
  // A row in memory stays small (about 300 bytes with its map node; 304 at format version 4).
  BOOST_TEST(StudyResults::row_bytes() <= 320u);
  // csv_field quotes exactly what RFC 4180 needs quoted.
  BOOST_TEST(csv_field("plain text") == "plain text");
  BOOST_TEST(csv_field("a,b") == "\"a,b\"");
  BOOST_TEST(csv_field("say \"x\"") == "\"say \"\"x\"\"\"");
  BOOST_TEST(csv_field("two\nlines") == "\"two\nlines\"");
  BOOST_TEST(csv_field("cr\r") == "\"cr\r\"");
  // csv_cell: reals read back as floats, empty text as a quoted empty string.
  BOOST_TEST(csv_cell(Cell(0.0)) == "0.0");
  BOOST_TEST(csv_cell(Cell(1e10)) == "10000000000.0");
  BOOST_TEST(csv_cell(Cell(1e-3)) == "0.001");
  BOOST_TEST(csv_cell(Cell(1e300)) == "1e+300");
  BOOST_TEST(csv_cell(Cell(arma::datum::nan)) == "nan");
  BOOST_TEST(csv_cell(Cell(-arma::datum::inf)) == "-inf");
  BOOST_TEST(csv_cell(Cell(7LL)) == "7");
  BOOST_TEST(csv_cell(Cell(std::string())) == "\"\"");
  BOOST_TEST(csv_cell(Cell(std::string("a,b"))) == "\"a,b\"");
}

BOOST_AUTO_TEST_CASE(every_schema_column_round_trips_through_messages) {
  const TaskOutcome o = distinct_outcome(5, "00000000000000ff");
  const TaskOutcome back = decode_outcome(encode_outcome(o));
  BOOST_TEST(back.task == 5u);
  BOOST_TEST(back.key == o.key);
  for (const OutcomeField& field : kOutcomeFields)
    BOOST_TEST((field.get(back) == field.get(o)), field.name);
  BOOST_TEST_REQUIRE(back.trace.size() == 1u);
  BOOST_TEST(back.trace[0].grad_norm == 0.125);
}

BOOST_FIXTURE_TEST_CASE(every_schema_column_round_trips_through_results_files, Plugins) {
  const TemporaryDirectory dir;
  const StudyPlan plan = three_task_plan(registry);
  // The plan's own columns are where the plan says, named and typed by kPlanFields.
  for (const PlanField& field : kPlanFields) {
    BOOST_TEST(plan.columns.at(plan.column(field.column)).name == field.name);
    BOOST_TEST((plan.columns.at(plan.column(field.column)).type == field.type), field.name);
  }
  BOOST_TEST(cell_text(plan.tasks[1].cells[plan.column(PlanColumn::key)]) == plan.tasks[1].key);
  BOOST_TEST(cell_text(plan.tasks[1].cells[plan.column(PlanColumn::optimizer)]) == plan.optimizers[plan.tasks[1].optimizer].name);

  StudyResults results(plan);
  const TaskOutcome o = distinct_outcome(1, plan.tasks[1].key);
  BOOST_TEST(results.add(o));
  results.write(dir.file("s.h5"), dir.file("s.csv"));
  const auto check_row = [&](const std::vector<ColumnSpec>& columns, const std::vector<Cell>& cells, const std::string& source) {
    BOOST_TEST_REQUIRE(columns.size() == plan.columns.size() + kOutcomeFieldCount);
    BOOST_TEST_REQUIRE(cells.size() == columns.size());
    for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) {
      const OutcomeField& field = kOutcomeFields[f];
      const std::size_t c = plan.columns.size() + f;
      BOOST_TEST(columns[c].name == field.name, source);
      BOOST_TEST((columns[c].type == field.type), source << " " << field.name);
      BOOST_TEST((cells[c] == field.get(o)), source << " " << field.name);
    }
  };
  const ResultsFile file = read_results_file(dir.file("s.h5"));
  BOOST_TEST(file.format_version == kStudyFormatVersion);
  BOOST_TEST_REQUIRE(file.rows.size() == 1u);
  check_row(file.columns, file.rows[0].cells, "HDF5");
  check_row(results.columns(), results.cells(1), "memory");
  StudyResults resumed(plan);
  resumed.load(dir.file("s.h5"));
  check_row(resumed.columns(), resumed.cells(1), "resumed");

  // The CSV: the same columns in the same order, then the trace's slice; every text value as
  // csv_field writes it.
  std::ifstream csv(dir.file("s.csv"));
  std::string header;
  std::getline(csv, header);
  std::string expected;
  for (const ColumnSpec& column : results.columns()) expected += column.name + ",";
  BOOST_TEST(header == expected + "trace_start,trace_length");
  const std::string rest((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  for (const OutcomeField& field : kOutcomeFields)
    BOOST_TEST(rest.find("," + csv_field(cell_text(field.get(o))) + ",") != std::string::npos, field.name);
}

BOOST_FIXTURE_TEST_CASE(results_file_round_trip_and_resume_checks, Plugins) {
  const TemporaryDirectory dir;
  const StudyPlan plan = three_task_plan(registry);
  StudyResults results(plan);
  BOOST_TEST(results.add(sample_outcome(plan, 2)));
  BOOST_TEST(results.add(sample_outcome(plan, 0)));
  BOOST_TEST(!results.add(sample_outcome(plan, 0)));  // a task is never in the file twice
  results.write(dir.file("r.h5"), dir.file("r.csv"));
  BOOST_TEST(!std::filesystem::exists(dir.file("r.h5.tmp")));

  const ResultsFile file = read_results_file(dir.file("r.h5"));
  BOOST_TEST(file.format_version == kStudyFormatVersion);
  BOOST_TEST(file.grid_hash == plan.grid_hash);
  BOOST_TEST(file.task_count == 3);
  BOOST_TEST_REQUIRE(file.rows.size() == 2u);
  BOOST_TEST(std::get<long long>(file.rows[0].cells[plan.column(PlanColumn::task)]) == 0);  // task order
  BOOST_TEST(std::get<long long>(file.rows[1].cells[plan.column(PlanColumn::task)]) == 2);
  const std::vector<Cell> row = results.cells(2);
  BOOST_TEST_REQUIRE(row.size() == file.rows[1].cells.size());
  for (std::size_t c = 0; c < row.size(); ++c) BOOST_TEST(cell_text(file.rows[1].cells[c]) == cell_text(row[c]));
  BOOST_TEST_REQUIRE(file.rows[1].trace.size() == 3u);
  BOOST_TEST(file.rows[1].trace[2].grad_norm == 2.0 / 3.0);

  // Resume: the same grid takes the rows unchanged; another grid or a foreign file is refused.
  StudyResults resumed(plan);
  resumed.load(dir.file("r.h5"));
  BOOST_TEST(resumed.size() == 2u);
  BOOST_TEST(resumed.contains(0));
  BOOST_TEST(!resumed.contains(1));
  const StudyPlan other = plan_of(registry, std::string("optimizer = gd cg\nsynthetic = ") + kSmall + "\nlr = 1e-3 1e-1\n");
  StudyResults wrong(other);
  require_throws_naming<InputError>([&] { wrong.load(dir.file("r.h5")); }, {"r.h5", "another grid"});
  require_throws_naming<InputError>([&] { wrong.load(dir.file("r.csv")); }, {"r.csv", "not an HDF5 file"});
  Dataset data = generate_from_spec(kSmall);
  write_hdf5(data, dir.file("data.h5"));
  require_throws_naming<InputError>([&] { wrong.load(dir.file("data.h5")); }, {"data.h5", "not a kappa study results file"});

  // The CSV: a header and one line per row (the message's newline is inside quotes).
  std::ifstream csv(dir.file("r.csv"));
  std::string header;
  std::getline(csv, header);
  BOOST_TEST(header.rfind("task,key,repeat,seed,data,", 0) == 0u);
  BOOST_TEST(header.find(",status,message,iterations,") != std::string::npos);
  const std::string rest((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  BOOST_TEST(rest.find("\"a \"\"quoted\"\", comma\nand newline\"") != std::string::npos);
}

// Rows written by earlier writes keep their traces although the results hold only the traces
// of rows added since the last write (each write copies the previous file's traces).
BOOST_FIXTURE_TEST_CASE(traces_survive_incremental_writes_and_resume, Plugins) {
  const TemporaryDirectory dir;
  const StudyPlan plan = three_task_plan(registry);
  const std::string file = dir.file("t.h5"), csv = dir.file("t.csv");
  const auto outcome = [&](std::size_t task, long points) {
    TaskOutcome o = sample_outcome(plan, task);
    o.trace.clear();
    for (long k = 0; k < points; ++k) o.trace.push_back({k, 0.0, 0.0, 100.0 * static_cast<double>(task) + static_cast<double>(k), 1.0, 0.5});
    return o;
  };
  StudyResults results(plan);
  results.write(file, csv);  // empty: no traces yet
  BOOST_TEST(results.add(outcome(2, 4)));
  BOOST_TEST(results.pending_trace_points() == 4u);
  results.write(file, csv);
  BOOST_TEST(results.pending_trace_points() == 0u);
  results.write(file, csv);  // nothing new: the traces are copied unchanged
  StudyResults resumed(plan);
  resumed.load(file);
  BOOST_TEST(resumed.pending_trace_points() == 0u);
  BOOST_TEST(resumed.add(outcome(0, 2)));
  resumed.write(file, csv);
  BOOST_TEST(resumed.add(outcome(1, 3)));
  resumed.write(file, csv);
  const ResultsFile read = read_results_file(file);
  BOOST_TEST_REQUIRE(read.rows.size() == 3u);
  const long lengths[] = {2, 3, 4};
  for (std::size_t r = 0; r < 3; ++r) {
    BOOST_TEST(std::get<long long>(read.rows[r].cells[plan.column(PlanColumn::task)]) == static_cast<long long>(r));  // rows in task order
    BOOST_TEST_REQUIRE(read.rows[r].trace.size() == static_cast<std::size_t>(lengths[r]));
    for (long k = 0; k < lengths[r]; ++k) {
      BOOST_TEST(read.rows[r].trace[k].iteration == k);
      BOOST_TEST(read.rows[r].trace[k].loss == 100.0 * static_cast<double>(r) + static_cast<double>(k));
    }
    const std::vector<Cell> cells = resumed.cells(r);
    for (std::size_t c = 0; c < cells.size(); ++c) BOOST_TEST(cell_text(read.rows[r].cells[c]) == cell_text(cells[c]));
  }
  // The previous file is the source of the old traces: without it a write fails, naming it, and
  // leaves nothing half-written.
  BOOST_TEST(resumed.add(outcome(1, 1)) == false);
  std::filesystem::remove(file);
  require_throws_naming<InputError>([&] { resumed.write(file, csv); }, {"t.h5"});
  BOOST_TEST(!std::filesystem::exists(file + ".tmp"));
  BOOST_TEST(!std::filesystem::exists(csv + ".tmp"));
}

// ---------------------------------------------------------------------------------------------
// Running tasks

BOOST_AUTO_TEST_CASE(experiment_cache_builds_once_and_evicts_least_recently_used) {
  const auto build = [](const char* spec) {
    return [spec]() -> std::shared_ptr<const Experiment> { return std::make_shared<const Experiment>(generate_from_spec(spec), ExperimentSetup{}); };
  };
  const char* a = "kind=spectrum,n=40,d=6,seed=1";
  const char* b = "kind=spectrum,n=40,d=6,seed=2";
  const Experiment probe(generate_from_spec(a), ExperimentSetup{});
  ExperimentCache cache(estimated_bytes(probe) * 3 / 2);  // room for one
  const auto first = cache.get("a", build(a));
  BOOST_TEST(first.build_seconds > 0);
  BOOST_TEST(cache.get("a", build(a)).experiment == first.experiment);
  BOOST_TEST(cache.builds() == 1u);
  cache.get("b", build(b));
  BOOST_TEST(cache.size() == 1u);  // a was evicted
  cache.get("a", build(a));
  BOOST_TEST(cache.builds() == 3u);
  // A failure is remembered with its reason, costs no memory, and is not rebuilt.
  const auto failed = cache.get("missing", [] { return std::make_shared<const Experiment>(read_hdf5("/nonexistent/x.h5"), ExperimentSetup{}); });
  BOOST_TEST(!failed.experiment);
  BOOST_TEST(failed.error.find("does not exist") != std::string::npos);
  cache.get("missing", [] { return std::make_shared<const Experiment>(read_hdf5("/nonexistent/x.h5"), ExperimentSetup{}); });
  BOOST_TEST(cache.builds() == 4u);
}

BOOST_FIXTURE_TEST_CASE(runner_matches_a_direct_run_and_isolates_failures, Plugins) {
  const TemporaryDirectory dir;
  write_hdf5(generate_from_spec("kind=spectrum,n=50,d=5,cond=30,noise=0.01,n_test=10"), dir.file("good.h5"));
  std::ofstream(dir.file("grid.ini")) << "data = good.h5 missing.h5\noptimizer = gd cg\nloss = l2 l1\ngd.lr = auto 100\nmax_iterations = 300\n";
  const StudyPlan plan = plan_study(read_grid_file(dir.file("grid.ini")), registry);
  TaskRunner runner(plan, std::size_t(1) << 30, 4, "here");
  std::map<std::string, int> statuses;
  for (const StudyTask& task : plan.tasks) {
    const TaskOutcome outcome = runner.run(task.index);
    BOOST_TEST(outcome.key == task.key);
    BOOST_TEST(outcome.mpi_rank == 4);
    // The class its plugin declares, also for a task whose problem cannot be built.
    BOOST_TEST(outcome.method_class == to_string(registry.find(plan.optimizers[task.optimizer].name).info.theory.method));
    const ProblemSpec& problem = plan.problems[task.problem];
    const PlannedOptimizer optimizer = plan.optimizers.create(task.optimizer);
    const std::string what = optimizer.name + " " + optimizer.canonical + " " + problem.data + " " + to_string(problem.setup.loss.kind);
    if (problem.data == "missing.h5") {
      BOOST_TEST((parse_status(outcome.status) == Status::failed), what);
      BOOST_TEST(outcome.message.find("problem cannot be built") != std::string::npos);
      BOOST_TEST(outcome.message.find("does not exist") != std::string::npos);
      continue;
    }
    ++statuses[outcome.status];
    // Independent run of the same task on a freshly built Experiment: the same numbers.
    const Experiment experiment(read_hdf5(dir.file("good.h5")), problem.setup);
    const RunResult direct = experiment.run(optimizer.name, *optimizer.optimizer, task.controls);
    BOOST_TEST(outcome.status == to_string(direct.status), what);
    BOOST_TEST(outcome.iterations == direct.iterations, what);
    BOOST_TEST((outcome.final_loss == direct.evaluation.train_loss || (std::isnan(outcome.final_loss) && std::isnan(direct.evaluation.train_loss))), what);
    BOOST_TEST(outcome.trace.size() == direct.trace.size(), what);
    BOOST_TEST(outcome.samples == 50);
    if (problem.setup.loss.kind == LossKind::l2) BOOST_TEST(std::fabs(outcome.condition_number - 30) < 1e-9 * 30);  // the spec's cond
    else BOOST_TEST(std::isnan(outcome.condition_number));
    if (optimizer.name == "gd" && optimizer.params.is_auto("lr") && problem.setup.loss.kind == LossKind::l1)
      BOOST_TEST((parse_status(outcome.status) == Status::failed), what);  // lr=auto has no smoothness constant for l1
    if (optimizer.name == "gd" && !optimizer.params.is_auto("lr") && problem.setup.loss.kind == LossKind::l2)
      BOOST_TEST((parse_status(outcome.status) == Status::diverged), what);
  }
  BOOST_TEST(runner.cache().builds() == 4u);  // 2 files x 2 losses, each once
  BOOST_TEST(statuses[to_string(Status::diverged)] >= 1);
  BOOST_TEST(statuses[to_string(Status::failed)] >= 1);
}

// precision is a problem setting: one problem per value, the float one with its own key, and
// the default (double) leaves the task keys of results files written before the key existed.
BOOST_FIXTURE_TEST_CASE(precision_is_a_problem_axis, Plugins) {
  const std::string base = "optimizer = gd\nsynthetic = kind=spectrum,n=30,d=5\n";
  const StudyPlan plan = plan_of(registry, base + "precision = double float\n");
  BOOST_TEST_REQUIRE(plan.tasks.size() == 2u);
  BOOST_TEST_REQUIRE(plan.problems.size() == 2u);
  BOOST_TEST((plan.problems[0].setup.precision == Precision::float64));
  BOOST_TEST((plan.problems[1].setup.precision == Precision::float32));
  BOOST_TEST(plan.tasks[0].key != plan.tasks[1].key);
  const StudyPlan plain = plan_of(registry, base);
  BOOST_TEST_REQUIRE(plain.tasks.size() == 1u);
  BOOST_TEST(plain.tasks[0].key == plan.tasks[0].key);
  require_throws_naming<InputError>([&] { plan_of(registry, base + "precision = half\n"); },
                                    {"g.ini:3:", "precision", "unknown precision 'half'"});
  require_throws_naming<InputError>(
      [&] { plan_of(registry, "optimizer = cg\nsynthetic = kind=kernel,n=30\nformulation = kernel-system\nprecision = float\n"); },
      {"kernel-system", "precision = float", "regression formulation only"});
}

// ---------------------------------------------------------------------------------------------
// Fingerprints (study/fingerprint.hpp): what --resume compares besides the grid.

BOOST_AUTO_TEST_CASE(stable_hasher_depends_on_the_bytes_not_on_how_they_are_fed) {
  const std::string text = "0123456789abcdefghijklmnopq";
  StableHasher whole, pieces;
  whole.add(text.data(), text.size());
  pieces.add(text.data(), 3);
  pieces.add(text.data() + 3, 9);
  pieces.add(text.data() + 12, text.size() - 12);
  BOOST_TEST(whole.value() == pieces.value());
  BOOST_TEST(whole.hex().size() == 16u);
  StableHasher other;
  std::string changed = text;
  changed[20] ^= 1;
  other.add(changed.data(), changed.size());
  BOOST_TEST(other.value() != whole.value());
  StableHasher shorter;
  shorter.add(text.data(), text.size() - 1);
  BOOST_TEST(shorter.value() != whole.value());
}

BOOST_AUTO_TEST_CASE(data_file_fingerprint_changes_with_one_value_not_with_a_touch_or_a_rewrite) {
  const TemporaryDirectory dir;
  const std::string file = dir.file("fp.h5");
  Dataset data = generate_from_spec(kSmall);
  write_hdf5(data, file);
  const std::vector<DatasetPaths> paths{DatasetPaths{}};
  const std::string first = hash_data_file(file, paths);
  BOOST_TEST(first.size() == 16u);
  std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + std::chrono::hours(1));  // a touch
  BOOST_TEST(hash_data_file(file, paths) == first);
  write_hdf5(data, file);  // the same values in a new file
  BOOST_TEST(hash_data_file(file, paths) == first);
  // One byte of one value: the next double differs from it in the lowest byte of its mantissa.
  Dataset changed = data;
  changed.X_train(3, 2) = std::nextafter(changed.X_train(3, 2), 10.0);
  write_hdf5(changed, file);
  BOOST_TEST(hash_data_file(file, paths) != first);
  changed = data;
  changed.y_test(0) = std::nextafter(changed.y_test(0), 10.0);  // the test part counts too
  write_hdf5(changed, file);
  BOOST_TEST(hash_data_file(file, paths) != first);
  require_throws_naming<DataError>([&] { hash_data_file(dir.file("missing.h5"), paths); }, {"missing.h5", "does not exist"});
}

BOOST_AUTO_TEST_CASE(file_fingerprint_changes_with_one_byte) {
  const TemporaryDirectory dir;
  const std::string file = dir.file("lib.so");
  std::string bytes(3 * 1024 * 1024 + 5, 'x');  // more than one block
  std::ofstream(file, std::ios::binary) << bytes;
  const std::string first = hash_file_bytes(file);
  BOOST_TEST(hash_file_bytes(file) == first);
  std::ofstream(file, std::ios::binary | std::ios::app) << '\0';
  BOOST_TEST(hash_file_bytes(file) != first);
  require_throws_naming<InputError>([&] { hash_file_bytes(dir.file("none.so")); }, {"none.so", "cannot be read"});
}

BOOST_FIXTURE_TEST_CASE(study_fingerprints_name_data_plugins_and_format_with_their_dependents, Plugins) {
  const TemporaryDirectory dir;
  write_hdf5(generate_from_spec(kSmall), dir.file("a.h5"));
  const StudyPlan plan = plan_study(
      parse_grid(std::string("optimizer = gd cg\ndata = a.h5 missing.h5\nridge = 0 1e-3\n"), "g.ini", dir.path.string()), registry);
  const std::vector<Fingerprint> fingerprints = study_fingerprints(plan, registry);
  std::map<std::string, Fingerprint> by_kind;
  for (const Fingerprint& fingerprint : fingerprints) {
    BOOST_TEST(fingerprint.value.size() == 16u);
    if (fingerprint.kind == FingerprintKind::plugin) {
      BOOST_TEST_REQUIRE(fingerprint.dependents.size() == 1u);
      BOOST_TEST(fingerprint.name == registry.find(fingerprint.dependents[0]).library);
    }
    by_kind.emplace(std::string(to_string(fingerprint.kind)) + (fingerprint.dependents.empty() ? "" : ":" + fingerprint.dependents[0]),
                    fingerprint);
  }
  BOOST_TEST(fingerprints.size() == 4u);  // a.h5 (missing.h5 has none), gd's and cg's plugins, the format
  BOOST_TEST(by_kind.count("data:a.h5") == 1u);
  BOOST_TEST(by_kind.at("data:a.h5").name == dir.file("a.h5"));
  BOOST_TEST(by_kind.at("data:a.h5").dependents.size() == 1u);  // both ridge values: one file, one fingerprint
  BOOST_TEST(by_kind.count("plugin:gd") == 1u);
  BOOST_TEST(by_kind.count("plugin:cg") == 1u);
  BOOST_TEST(by_kind.count("format") == 1u);
  BOOST_TEST(parse_fingerprints(fingerprints_text(fingerprints), "f") == fingerprints);
  require_throws_naming<InputError>([&] { parse_fingerprints("data\ta.h5\txyz\n", "results file 'r.h5'"); },
                                    {"results file 'r.h5'", "fingerprint line 1 is malformed"});
}

BOOST_FIXTURE_TEST_CASE(resume_refuses_changed_fingerprints_or_drops_the_affected_rows, Plugins) {
  const TemporaryDirectory dir;
  const StudyPlan plan = three_task_plan(registry);  // gd (two lr), cg on one synthetic problem
  const std::vector<Fingerprint> current = study_fingerprints(plan, registry);
  const auto written_with = [&](const std::vector<Fingerprint>& fingerprints) {
    StudyResults results(plan);
    results.set_fingerprints(fingerprints);
    for (std::size_t task = 0; task < plan.tasks.size(); ++task) results.add(sample_outcome(plan, task));
    results.write(dir.file("r.h5"), dir.file("r.csv"));
  };
  const auto changed = [&](FingerprintKind kind, const std::string& dependent) {
    std::vector<Fingerprint> fingerprints = current;
    for (Fingerprint& fingerprint : fingerprints)
      if (fingerprint.kind == kind && (dependent.empty() || fingerprint.dependents.at(0) == dependent))
        fingerprint.value = "0123456789abcdef";
    return fingerprints;
  };
  // Unchanged: every row taken.
  written_with(current);
  BOOST_TEST(read_results_file(dir.file("r.h5")).fingerprints == current);
  StudyResults same(plan);
  same.set_fingerprints(current);
  BOOST_TEST(same.load(dir.file("r.h5")).changes.empty());
  BOOST_TEST(same.size() == 3u);

  // The plugin of gd changed: refused naming it, or its two tasks dropped.
  written_with(changed(FingerprintKind::plugin, "gd"));
  StudyResults refused(plan);
  refused.set_fingerprints(current);
  require_throws_naming<InputError>([&] { refused.load(dir.file("r.h5")); },
                                    {"results file '" + dir.file("r.h5") + "' was written with other plugins: plugin library '",
                                     "now, 0123456789abcdef when the results were written; rerun the changed tasks with --rerun-changed"});
  StudyResults rerun(plan);
  rerun.set_fingerprints(current);
  const StudyResults::Rerun dropped = rerun.load(dir.file("r.h5"), true);
  BOOST_TEST(dropped.dropped == 2u);
  BOOST_TEST_REQUIRE(dropped.changes.size() == 1u);
  BOOST_TEST(dropped.changes[0].dependents == std::vector<std::string>{"gd"});
  BOOST_TEST(rerun.size() == 1u);
  for (std::size_t task = 0; task < plan.tasks.size(); ++task)
    BOOST_TEST(rerun.contains(task) == (plan.optimizers.name(plan.tasks[task].optimizer) == "cg"));

  // The data changed: every task of the problem; the format: refused even with --rerun-changed.
  written_with(changed(FingerprintKind::data, ""));
  StudyResults data(plan);
  data.set_fingerprints(current);
  require_throws_naming<InputError>([&] { data.load(dir.file("r.h5")); }, {"was written with other data: synthetic data '"});
  BOOST_TEST(data.load(dir.file("r.h5"), true).dropped == 3u);
  // Rows of a kappa whose generator drew other data for the same spec (before
  // kSyntheticGeneratorVersion 2 the fingerprint was the hash of the spec's text alone): refused
  // as changed synthetic data, so a resume does not mix the two.
  std::vector<Fingerprint> earlier_generator = current;
  for (Fingerprint& fingerprint : earlier_generator)
    if (fingerprint.kind == FingerprintKind::data) fingerprint.value = stable_hash(plan.problems.at(0).synthetic);
  BOOST_TEST(earlier_generator != current);
  written_with(earlier_generator);
  StudyResults regenerated(plan);
  regenerated.set_fingerprints(current);
  require_throws_naming<InputError>([&] { regenerated.load(dir.file("r.h5")); }, {"was written with other data: synthetic data '"});
  written_with(changed(FingerprintKind::format, ""));
  StudyResults format(plan);
  format.set_fingerprints(current);
  require_throws_naming<InputError>([&] { format.load(dir.file("r.h5"), true); },
                                    {"was written by another kappa: format 'kappa' has fingerprint", "choose another --output"});
  // A file without fingerprints (written before kappa stored them): nothing to compare.
  StudyResults old(plan);
  for (std::size_t task = 0; task < plan.tasks.size(); ++task) old.add(sample_outcome(plan, task));
  old.write(dir.file("r.h5"), dir.file("r.csv"));
  BOOST_TEST(!read_results_file(dir.file("r.h5")).has_fingerprints);
  StudyResults unchecked(plan);
  unchecked.set_fingerprints(current);
  BOOST_TEST(unchecked.load(dir.file("r.h5")).changes.empty());
  BOOST_TEST(unchecked.size() == 3u);
}
