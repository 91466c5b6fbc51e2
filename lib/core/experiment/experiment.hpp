#pragma once
// One problem with everything that is built once and reused by many optimizer runs: the data,
// the loss, the preconditioner fitted on it, and the direct reference solution w*.
//
// Every run starts from w = 0 (in the original coordinates) and is reported in the original
// coordinates: relative weight error |w - w*| / |w*| (and its part in the row space of the
// design), train loss and its gap to f(w*), test MAE and RMSE.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.hpp"
#include "core/experiment/run_monitor.hpp"
#include "core/references/reference.hpp"
#include "core/problems/kernel_system.hpp"
#include "kappa/monitor.hpp"
#include "kappa/optimizer.hpp"
#include "core/preconditioners/preconditioner.hpp"

namespace kappa {

struct ExperimentSetup {
  LossSpec loss;
  std::string preconditioner = "none";
  DirectMethod reference_method = DirectMethod::svd;
  // regression: f(w) = (1/n) sum rho(a_i^T w - y_i) + ridge/2 |w_f|^2 (problem.hpp);
  // kernel_system: X_train is a square symmetric PSD kernel K and the problem is
  // 1/2 a^T (K + ridge I) a - y^T a + c (kernel_system.hpp), loss l2 only, no intercept; its
  // reference is (K + ridge I)^+ y by reference_method, its preconditioners are fitted on
  // (K + ridge I)^{1/2}. Test predictions are X_test w in both.
  Formulation formulation = Formulation::regression;
  // The arithmetic of the iterative runs (problem.hpp); references are computed in double.
  // float is available for the regression formulation.
  Precision precision = Precision::float64;
};

// The rules of a setup that hold whatever the data, checked by Experiment and, before any work,
// by the CLI and study planning: for the kernel-system formulation, its loss rules
// (check_kernel_system_spec) and double precision. InputError naming the value otherwise.
void check_setup(const ExperimentSetup& setup);

// Quality of a weight vector on the original problem.
struct Evaluation {
  real train_loss = 0;
  real loss_gap = 0;               // train_loss - f(w*)
  real relative_weight_error = 0;  // |w - w*| / |w*| (absolute |w| when w* = 0)
  // |P (w - w*)| / |w*|, P the projection onto range(A^T) (RowSpaceProjection, reference.hpp):
  // the error without the null-space components that no data can see. Equal to
  // relative_weight_error for a design of full column rank; NaN when the reference does not know
  // the row space (qr, cholesky, the kernel system).
  real relative_weight_error_range = arma::datum::nan;
  real weight_norm = 0;
  real test_mae = arma::datum::nan;  // NaN when the data has no test part
  real test_rmse = arma::datum::nan;
};

struct RunResult {
  std::string optimizer;
  Status status = Status::failed;
  std::string message;
  long iterations = 0;
  double data_passes = 0;  // gradient evaluations in full-data equivalents, set-up included
  double setup_passes = 0; // of which before the report of iteration 0 (RunMonitor::setup_passes)
  double seconds = 0;
  real grad_norm = arma::datum::nan;  // of the objective the optimizer saw (solver coordinates);
                                      // NaN when the run failed before reporting anything
  bool input_error = false;  // failed on an InputError: a parameter that does not fit this
                             // problem (e.g. batch_size > n), a user's mistake, not the method's
  Vec w;                   // original coordinates: those of the report that stopped the run
  Evaluation evaluation;
  std::vector<TracePoint> trace;
};

// The base step size a run of an optimizer with `params` used on `problem` (the solver problem):
// the step-size parameter `step_parameter` (MethodTheory::step_size) as given, or what lr=auto
// resolves to there (resolve_batch_step_size with the run's batch_size: 1/L, 1/L_b for
// minibatches). NaN when the optimizer has no such parameter or auto cannot be resolved. An
// auto step costs the Lanczos steps of L again, counted on `problem`'s work counter (which
// every run resets).
double used_step_size(const Params& params, const std::string& step_parameter, const Problem& problem);

// A RunResult as bytes and back, for a run made in another process of the same build (a task
// process of kappa solve). decode_run_result throws kappa::Error for malformed bytes.
std::string encode_run_result(const RunResult& result);
RunResult decode_run_result(const std::string& bytes);

// One run of Experiment::run_group.
struct GroupRun {
  std::string name;
  const Optimizer* optimizer = nullptr;  // must outlive the call
  RunControls controls;
  RunProgress* progress = nullptr;  // may be null
  std::size_t slot = 0;             // its column in the group's passes (lockstep.hpp)
};

class Experiment {
 public:
  // Validates the data, builds the problem, fits the preconditioner and computes w*.
  // Throws DataError (naming the data source, suggesting to rescale) for data beyond the range
  // that double arithmetic handles here: max |X| or max |y| above 1e150 (squares and products
  // overflow), max |X| below 1e-150 unless X is zero (gradients underflow to 0, a false
  // convergence), and for f(0) or f(w*) not finite. The test part is checked like the training
  // part.
  Experiment(Dataset data, const ExperimentSetup& setup);
  // The same with the training design given as the problem's storage S = X^T (samples.hpp:
  // private, or a segment shared by the processes of a node) and data.X_train empty: the
  // problem works on that memory, and w* of a tall l2 problem is computed from it block by
  // block, so this Experiment holds no copy of X. The regression formulation only (InputError
  // otherwise). Its references equal those of the constructor above to rounding, not bit for bit.
  Experiment(Dataset data, const SampleStorage& samples, const ExperimentSetup& setup);

  // The data's source and test part. The training design lives only in problem() (one copy of
  // X per Experiment, in the problem's layout and precision): data().X_train is empty.
  const Dataset& data() const { return data_; }
  const ExperimentSetup& setup() const { return setup_; }
  // Original coordinates: a LinearModelProblem (regression) or a KernelSystemProblem.
  const Problem& problem() const { return *problem_; }
  const Problem& solver_problem() const { return *solver_problem_; }  // what optimizers see
  const Preconditioner& preconditioner() const { return *preconditioner_; }
  const DirectSolution& reference() const { return reference_; }
  const ReferenceDesign& reference_design() const { return reference_design_; }  // its rank and row space
  const Evaluation& reference_evaluation() const { return reference_evaluation_; }

  Evaluation evaluate(const Vec& w) const;

  // Runs one optimizer from w = 0. Never throws for a failing optimizer: exceptions (standard
  // or not) and non-finite results become a failed or diverged RunResult with the reason. The
  // result's w is that of the report that stopped the run (even if the optimizer changed w
  // afterwards), and the last reported iteration is always the last trace point.
  // `progress` (may be null) receives every report while the run goes on (RunProgress).
  RunResult run(const std::string& name, const Optimizer& optimizer, const RunControls& controls,
                RunProgress* progress = nullptr) const;

  // The runs of a lockstep group (core/experiment/lockstep.hpp): each as run() would make it,
  // advanced together so that they share each pass over the data; the results are those of
  // the runs alone up to the rounding of the gradient sums (docs/study.md, "Lockstep groups"),
  // with each run's data passes counted as if alone. Each pass has `width` columns (at least the
  // runs'; 0: as many as runs), run i in column runs[i].slot: the same width and slot give a run
  // the same bits whatever the other runs (lockstep.hpp). `shared_passes` (may be null)
  // receives the passes the group made for all of them together.
  std::vector<RunResult> run_group(const std::vector<GroupRun>& runs, std::size_t width = 0, double* shared_passes = nullptr) const;

 private:
  // The parts of run() and run_group(): a monitor whose work counter is `counted` (and whose
  // clock is `clock`, if given), and the result from it and the final weights.
  std::unique_ptr<RunMonitor> start_run(const RunControls& controls, const Problem& counted, RunProgress* progress,
                                        std::function<double()> clock) const;
  RunResult finish_run(const std::string& name, RunMonitor& monitor, const Vec& z, const Problem& counted, bool input_error) const;
  void check_and_evaluate();  // the part of construction after the problem is built

  Dataset data_;
  ExperimentSetup setup_;
  std::unique_ptr<const Problem> problem_;
  Mat test_design_;  // [X_test 1] with an intercept; empty otherwise (data_.X_test serves)
  std::unique_ptr<Preconditioner> preconditioner_;
  std::unique_ptr<Problem> solver_problem_;
  DirectSolution reference_;
  ReferenceDesign reference_design_;
  real reference_loss_ = 0;  // f(w*)
  Evaluation reference_evaluation_;
};

}  // namespace kappa
