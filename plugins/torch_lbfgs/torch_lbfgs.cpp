// torch_lbfgs: L-BFGS with the exact semantics of PyTorch's torch.optim.LBFGS (torch 1.13,
// torch/optim/lbfgs.py, itself a port of minFunc and of torch7's optim/lbfgs.lua), so that a
// kappa run reproduces a PyTorch run iteration by iteration and stops where and why it stops.
// The direction is the two-loop recursion (Nocedal & Wright, Numerical Optimization, 2nd ed.
// 2006, Alg. 7.4) with H_0 = H_diag I, H_diag = y.s / y.y of the newest kept pair (N&W eq. 7.20).
// Differences from kappa's `lbfgs` are deliberate: they are torch's.
//
// One kappa run = `steps` consecutive calls of LBFGS.step(closure) on one optimizer state. One
// step():
//   1. evaluates f and g at w (one evaluation; func_evals += 1) and returns at once if
//      max|g| <= tolerance_grad (no iteration);
//   2. runs at most max_iter iterations, each: n_iter += 1; direction d = -g at the very first
//      iteration of the run (n_iter == 1), else the pair s = t d (the previous step), y = g -
//      g_prev is stored if y.s > 1e-10 (ABSOLUTE; the oldest pair is dropped beyond
//      history_size), H_diag = y.s / y.y, and d = -H g by the two-loop recursion; step t =
//      min(1, 1/|g|_1) lr at n_iter == 1, else lr; then
//        - break if g.d > -tolerance_change (ABSOLUTE; the weights do not move),
//        - w += t d, with line_search_fn=strong_wolfe after torch's own _strong_wolfe search (its
//          bracketing and zoom with _cubic_interpolate, c1 = 1e-4, c2 = 0.9, 25 evaluations; its
//          bracket test uses 1e-9 whatever tolerance_change is, as torch does not pass it on),
//          without a line search at the fixed t, evaluating f and g at the new w unless this is
//          the step's last iteration (n_iter == max_iter: torch skips that evaluation);
//        - break, in this order, if the step's iterations reached max_iter, its evaluations
//          (counting the one of 1.) reached max_eval, max|g| <= tolerance_grad, max|t d| <=
//          tolerance_change, or |f - f_prev| < tolerance_change.
// The state (n_iter, func_evals, d, t, the pairs, ro, H_diag, g_prev, f_prev) carries over from
// one step() to the next, as in torch: a later step() re-evaluates f at w (one evaluation, no
// iteration) and goes on where the previous one stopped. After a break at the g.d test every
// later step() repeats it: its y is 0 (same point, same gradient), so no pair is stored, the
// direction and g.d are the same and it breaks again; torch counts one more n_iter and one more
// evaluation each time, without moving the weights.
//
// Counting. kappa's iteration k is torch's state["n_iter"] = k, reported with f, |g| at the
// weights after it (iteration 0: the starting point, at the first evaluation). An iteration that
// ends a step at the g.d test does not move the weights; torch counts it, and so does kappa (a
// report at the same point). Every loss_grad call is one evaluation (a data pass, counted by the
// Problem) = torch's state["func_evals"]. An iteration whose evaluation torch skips (the last of a
// step without line search) is reported at the next step()'s first evaluation, which is at the
// same point; after the LAST step, kappa evaluates that point (one evaluation more than torch's
// func_evals; the message says so).
//
// End of a run. After all `steps` calls the run ends with monitor.stop_by_rule (status
// optimizer-rule) at the last iteration, with a message naming the test that ended the last step()
// and its values, e.g. "tolerance_change: g.d = -7.6e-10 > -1e-09 at iteration 383 (step 1 of
// 300)"; when the last steps made no progress, it names the step where that test first fired
// and the iteration at which the weights last moved. A RunControls rule (max_iterations, ...)
// reached first ends the run at that report instead.
#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "kappa/parse.hpp"
#include "kappa/plugin.hpp"

namespace {

using kappa::real;
using kappa::Vec;

struct Settings {
  real lr = 1;
  long max_iter = 20;
  long max_eval = 25;
  real tolerance_grad = 1e-7;
  real tolerance_change = 1e-9;
  std::size_t history_size = 100;
  bool strong_wolfe = false;
  long steps = 1;
};

// Python's built-in max(a, b) and min(a, b): the first argument unless the second compares
// greater (smaller); with a NaN, the first.
real py_max(real a, real b) { return b > a ? b : a; }
real py_min(real a, real b) { return b < a ? b : a; }
real abs_max(const Vec& v) { return v.is_empty() ? 0 : arma::max(arma::abs(v)); }

// torch's _cubic_interpolate (from torch7's optim/polyinterp.lua): the minimizer of the cubic
// through (x1, f1, g1) and (x2, f2, g2), clamped to the bounds (default: the interval between
// x1 and x2); the bounds' midpoint when the cubic has no real minimizer.
real cubic_interpolate(real x1, real f1, real g1, real x2, real f2, real g2, const real* bounds = nullptr) {
  real xmin_bound = x1 <= x2 ? x1 : x2;
  real xmax_bound = x1 <= x2 ? x2 : x1;
  if (bounds) {
    xmin_bound = bounds[0];
    xmax_bound = bounds[1];
  }
  const real d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const real d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const real d2 = std::sqrt(d2_square);
    const real min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                  : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, xmin_bound), xmax_bound);
  }
  return (xmin_bound + xmax_bound) / 2.;
}

struct WolfeResult {
  real loss;
  Vec gradient;
  real t;
  long evaluations;
};

// torch's _strong_wolfe (from torch7's optim/lswolfe.lua), statement by statement: bracketing
// with cubic extrapolation in [t + 0.01 (t - t_prev), 10 t], then zoom with cubic interpolation
// and torch's "insufficient progress" safeguard. Returns the bracket's low point (which may be
// t = 0 after max_ls evaluations).
WolfeResult strong_wolfe(const kappa::Problem& problem, const Vec& x, real t, const Vec& d, real f, const Vec& g,
                         real gtd, real c1 = 1e-4, real c2 = 0.9, real tolerance_change = 1e-9, long max_ls = 25) {
  const real d_norm = abs_max(d);
  const auto evaluate = [&](real step, Vec& gradient) {
    const Vec trial = x + step * d;
    return problem.loss_grad(trial, gradient);
  };
  Vec g_new;
  real f_new = evaluate(t, g_new);
  long ls_func_evals = 1;
  real gtd_new = arma::dot(g_new, d);

  real t_prev = 0, f_prev = f, gtd_prev = gtd;
  Vec g_prev = g;
  bool done = false;
  long ls_iter = 0;
  std::vector<real> bracket, bracket_f, bracket_gtd;
  std::vector<Vec> bracket_g;
  while (ls_iter < max_ls) {
    if (f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev)) {
      bracket = {t_prev, t};
      bracket_f = {f_prev, f_new};
      bracket_g = {g_prev, g_new};
      bracket_gtd = {gtd_prev, gtd_new};
      break;
    }
    if (std::fabs(gtd_new) <= -c2 * gtd) {
      bracket = {t};
      bracket_f = {f_new};
      bracket_g = {g_new};
      done = true;
      break;
    }
    if (gtd_new >= 0) {
      bracket = {t_prev, t};
      bracket_f = {f_prev, f_new};
      bracket_g = {g_prev, g_new};
      bracket_gtd = {gtd_prev, gtd_new};
      break;
    }
    // interpolate
    const real bounds[2] = {t + 0.01 * (t - t_prev), t * 10};
    const real tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
    // next step
    t_prev = tmp;
    f_prev = f_new;
    g_prev = g_new;
    gtd_prev = gtd_new;
    f_new = evaluate(t, g_new);
    ls_func_evals += 1;
    gtd_new = arma::dot(g_new, d);
    ls_iter += 1;
  }
  // reached max number of iterations? (bracket_gtd is not needed then: the zoom is skipped)
  if (ls_iter == max_ls) {
    bracket = {0, t};
    bracket_f = {f, f_new};
    bracket_g = {g, g_new};
  }

  // zoom phase
  bool insuf_progress = false;
  std::size_t low_pos = bracket_f.front() <= bracket_f.back() ? 0 : 1;
  std::size_t high_pos = 1 - low_pos;
  while (!done && ls_iter < max_ls) {
    if (std::fabs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    const real bracket_max = py_max(bracket[0], bracket[1]);
    const real bracket_min = py_min(bracket[0], bracket[1]);
    const real eps = 0.1 * (bracket_max - bracket_min);
    if (py_min(bracket_max - t, t - bracket_min) < eps) {
      // interpolation close to the boundary
      if (insuf_progress || t >= bracket_max || t <= bracket_min) {
        t = std::fabs(t - bracket_max) < std::fabs(t - bracket_min) ? bracket_max - eps : bracket_min + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    f_new = evaluate(t, g_new);
    ls_func_evals += 1;
    gtd_new = arma::dot(g_new, d);
    ls_iter += 1;
    if (f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low_pos]) {
      // Armijo condition not satisfied or not lower than the lowest point
      bracket[high_pos] = t;
      bracket_f[high_pos] = f_new;
      bracket_g[high_pos] = g_new;
      bracket_gtd[high_pos] = gtd_new;
      low_pos = bracket_f[0] <= bracket_f[1] ? 0 : 1;
      high_pos = 1 - low_pos;
    } else {
      if (std::fabs(gtd_new) <= -c2 * gtd) {
        done = true;  // Wolfe conditions satisfied
      } else if (gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0) {
        // old high becomes new low
        bracket[high_pos] = bracket[low_pos];
        bracket_f[high_pos] = bracket_f[low_pos];
        bracket_g[high_pos] = bracket_g[low_pos];
        bracket_gtd[high_pos] = bracket_gtd[low_pos];
      }
      // new point becomes new low
      bracket[low_pos] = t;
      bracket_f[low_pos] = f_new;
      bracket_g[low_pos] = g_new;
      bracket_gtd[low_pos] = gtd_new;
    }
  }
  return {bracket_f[low_pos], std::move(bracket_g[low_pos]), bracket[low_pos], ls_func_evals};
}

// What ended one step().
enum class Rule { grad_at_start, gd, max_iter, max_eval, grad, step_change, loss_change };

struct StepEnd {
  Rule rule = Rule::max_iter;
  std::string text;  // the rule, its values, where: "tolerance_change: g.d = ... at iteration 383 (step 1 of 300)"
  bool moved = false;  // whether this step updated the weights
};

// max|g| <= tolerance_grad after an update and at the start of a step are one test.
Rule test_of(Rule rule) { return rule == Rule::grad_at_start ? Rule::grad : rule; }

// What the final message needs of the steps' ends, in constant memory (steps may be many): the
// last step that moved the weights, the first of the steps after it (which made no progress),
// whether those all stopped at one test, and the last step.
struct Ends {
  StepEnd moved{};
  long moved_step = 0;  // 0: no step moved the weights
  StepEnd tail{};
  long tail_step = 0;   // 0: the last step moved the weights
  bool tail_same = true;
  StepEnd last{};

  void add(long step, StepEnd end) {
    if (end.moved) {
      moved = end;
      moved_step = step;
      tail_step = 0;
      tail_same = true;
    } else if (tail_step == 0) {
      tail = end;
      tail_step = step;
    } else {
      tail_same = tail_same && test_of(end.rule) == test_of(tail.rule);
    }
    last = std::move(end);
  }
};

// torch's state["..."] of the one parameter group.
struct TorchState {
  long func_evals = 0;
  long n_iter = 0;
  Vec d;
  real t = 0;
  std::deque<Vec> old_dirs;  // y
  std::deque<Vec> old_stps;  // s
  std::deque<real> ro;       // 1 / y.s
  real H_diag = 1;
  Vec prev_flat_grad;
  real prev_loss = 0;
};

class TorchLbfgsRun {
 public:
  TorchLbfgsRun(const Settings& settings, const kappa::Problem& problem, Vec& w, kappa::Monitor& monitor)
      : s_(settings), problem_(problem), w_(w), monitor_(monitor) {}

  void run() {
    Ends ends;
    for (long step = 1; step <= s_.steps; ++step) {
      StepEnd end;
      if (!torch_step(step, end)) return;  // a RunControls rule ended the run
      ends.add(step, std::move(end));
    }
    std::string note;
    if (!evaluated_) {
      // The last step() ended at max_iter without line search: torch never evaluates the point.
      loss_ = problem_.loss_grad(w_, g_);
      evaluated_ = true;
      note = "; kappa evaluated the final point, which torch does not (one evaluation more than func_evals)";
    }
    monitor_.stop_by_rule(state_.n_iter, loss_, arma::norm(g_), w_, final_message(ends) + note);
  }

 private:
  // One call of LBFGS.step(closure). Returns false when the monitor stopped the run.
  bool torch_step(long step, StepEnd& end) {
    const std::string where = " (step " + std::to_string(step) + " of " + std::to_string(s_.steps) + ")";
    const auto at = [&](long n_iter) { return " at iteration " + std::to_string(n_iter) + where; };
    const auto number = [](real value) { return kappa::format_number(value); };
    const real tol_grad = s_.tolerance_grad;
    const real tol_change = s_.tolerance_change;
    TorchState& st = state_;

    // evaluate initial f(x) and df/dx
    loss_ = problem_.loss_grad(w_, g_);
    long current_evals = 1;
    st.func_evals += 1;
    if (!evaluated_) {  // the starting point, or the last iteration of the previous step
      evaluated_ = true;
      if (monitor_.report(st.n_iter, loss_, arma::norm(g_), w_)) return false;
    }
    bool opt_cond = abs_max(g_) <= tol_grad;
    end.moved = false;
    if (opt_cond) {
      end.rule = Rule::grad_at_start;
      end.text = "tolerance_grad: max|g| = " + number(abs_max(g_)) + " <= " + number(tol_grad) + " at the start of step " +
                 std::to_string(step) + " of " + std::to_string(s_.steps) + " (iteration " + std::to_string(st.n_iter) + ")";
      return true;
    }

    long n_iter = 0;
    while (n_iter < s_.max_iter) {
      n_iter += 1;
      st.n_iter += 1;

      // compute the descent direction
      if (st.n_iter == 1) {
        st.d = -g_;
        st.old_dirs.clear();
        st.old_stps.clear();
        st.ro.clear();
        st.H_diag = 1;
      } else {
        Vec y = g_ - st.prev_flat_grad;
        Vec s = st.d * st.t;
        const real ys = arma::dot(y, s);
        if (ys > 1e-10) {
          if (st.old_dirs.size() == s_.history_size) {  // shift the history by one
            st.old_dirs.pop_front();
            st.old_stps.pop_front();
            st.ro.pop_front();
          }
          st.H_diag = ys / arma::dot(y, y);
          st.old_dirs.push_back(std::move(y));
          st.old_stps.push_back(std::move(s));
          st.ro.push_back(1. / ys);
        }
        // two-loop recursion (N&W Alg. 7.4), in torch's order of operations
        const std::size_t num_old = st.old_dirs.size();
        al_.resize(num_old);
        Vec q = -g_;
        for (std::size_t i = num_old; i-- > 0;) {
          al_[i] = arma::dot(st.old_stps[i], q) * st.ro[i];
          q -= al_[i] * st.old_dirs[i];
        }
        Vec r = q * st.H_diag;
        for (std::size_t i = 0; i < num_old; ++i) {
          const real be_i = arma::dot(st.old_dirs[i], r) * st.ro[i];
          r += (al_[i] - be_i) * st.old_stps[i];
        }
        st.d = std::move(r);
      }
      st.prev_flat_grad = g_;
      st.prev_loss = loss_;

      // step length: reset the initial guess
      st.t = st.n_iter == 1 ? std::min<real>(1., 1. / arma::sum(arma::abs(g_))) * s_.lr : s_.lr;

      // directional derivative below tolerance: the weights do not move
      const real gtd = arma::dot(g_, st.d);
      if (gtd > -tol_change) {
        // torch counts this iteration (n_iter) although the weights stay: so does kappa, at the
        // same point, loss and gradient.
        if (monitor_.report(st.n_iter, loss_, arma::norm(g_), w_)) return false;
        end.rule = Rule::gd;
        end.text = "tolerance_change: g.d = " + number(gtd) + " > " + number(-tol_change) + at(st.n_iter);
        return true;
      }

      long ls_func_evals = 0;
      if (s_.strong_wolfe) {
        WolfeResult found = strong_wolfe(problem_, w_, st.t, st.d, loss_, g_, gtd);
        loss_ = found.loss;
        g_ = std::move(found.gradient);
        st.t = found.t;
        ls_func_evals = found.evaluations;
        w_ += st.t * st.d;
        opt_cond = abs_max(g_) <= tol_grad;
        evaluated_ = true;
      } else {
        w_ += st.t * st.d;  // the fixed step
        if (n_iter != s_.max_iter) {
          loss_ = problem_.loss_grad(w_, g_);
          opt_cond = abs_max(g_) <= tol_grad;
          ls_func_evals = 1;
          evaluated_ = true;
        } else {
          evaluated_ = false;  // torch does not evaluate the last iteration of a step
        }
      }
      current_evals += ls_func_evals;
      st.func_evals += ls_func_evals;
      last_update_ = st.n_iter;
      end.moved = true;
      if (evaluated_ && monitor_.report(st.n_iter, loss_, arma::norm(g_), w_)) return false;

      // check conditions
      if (n_iter == s_.max_iter) {
        end.rule = Rule::max_iter;
        end.text = "max_iter: " + std::to_string(n_iter) + " iterations" + at(st.n_iter);
        return true;
      }
      if (current_evals >= s_.max_eval) {
        end.rule = Rule::max_eval;
        end.text = "max_eval: " + std::to_string(current_evals) + " evaluations >= " + std::to_string(s_.max_eval) +
                   at(st.n_iter);
        return true;
      }
      if (opt_cond) {
        end.rule = Rule::grad;
        end.text = "tolerance_grad: max|g| = " + number(abs_max(g_)) + " <= " + number(tol_grad) + at(st.n_iter);
        return true;
      }
      const real change = abs_max(st.d * st.t);
      if (change <= tol_change) {
        end.rule = Rule::step_change;
        end.text = "tolerance_change: max|t d| = " + number(change) + " <= " + number(tol_change) + at(st.n_iter);
        return true;
      }
      const real loss_change = std::fabs(loss_ - st.prev_loss);
      if (loss_change < tol_change) {
        end.rule = Rule::loss_change;
        end.text = "tolerance_change: |f - f_prev| = " + number(loss_change) + " < " + number(tol_change) + at(st.n_iter);
        return true;
      }
    }
    // Not reached: the loop ends at the max_iter check (max_iter >= 1).
    end.rule = Rule::max_iter;
    end.text = "max_iter: " + std::to_string(n_iter) + " iterations" + at(st.n_iter);
    return true;
  }

  // The test that ended the last step(); when the last steps made no progress, where that test
  // first fired and when the weights last moved.
  std::string final_message(const Ends& ends) const {
    const std::string state =
        "; torch's state: n_iter = " + std::to_string(state_.n_iter) + ", func_evals = " + std::to_string(state_.func_evals);
    const std::string moved_at =
        last_update_ == 0 ? "; the weights never moved" : "; the weights last moved at iteration " + std::to_string(last_update_);
    if (ends.last.moved) return ends.last.text + (ends.last.rule == Rule::gd ? moved_at : "") + state;
    // Steps tail_step .. steps made no progress. If they all stopped at one test, it may have
    // fired first in the last step that moved, after its last update (g.d; tolerance_grad).
    if (!ends.tail_same)
      return "steps " + std::to_string(ends.tail_step) + "-" + std::to_string(s_.steps) + " made no progress; the last: " +
             ends.last.text + moved_at + state;
    const bool began_earlier = ends.moved_step >= 1 && test_of(ends.moved.rule) == test_of(ends.tail.rule);
    const long first = began_earlier ? ends.moved_step : ends.tail_step;
    std::string text = began_earlier ? ends.moved.text : ends.tail.text;
    if (first + 1 == s_.steps)
      text += "; step " + std::to_string(s_.steps) + " evaluated once and ended by the same test";
    else if (first < s_.steps)
      text += "; steps " + std::to_string(first + 1) + "-" + std::to_string(s_.steps) +
              " evaluated once each and ended by the same test";
    return text + moved_at + state;
  }

  const Settings& s_;
  const kappa::Problem& problem_;
  Vec& w_;
  kappa::Monitor& monitor_;
  TorchState state_;
  real loss_ = 0;
  Vec g_;
  bool evaluated_ = false;  // whether loss_ and g_ are those at w_ (and iteration n_iter is reported)
  long last_update_ = 0;    // the iteration (n_iter) of the last update of the weights; 0: none
  std::vector<real> al_;
};

class TorchLbfgs final : public kappa::Optimizer {
 public:
  explicit TorchLbfgs(const Settings& settings) : settings_(settings) {}
  void minimize(const kappa::Problem& problem, Vec& w, kappa::Monitor& monitor) const override {
    TorchLbfgsRun(settings_, problem, w, monitor).run();
  }

 private:
  Settings settings_;
};

}  // namespace

KAPPA_PLUGIN(registrar) {
  kappa::ParamSpec max_eval = kappa::integer_param(
      "max_eval", "auto", "evaluations per step() (its first evaluation included); auto = max_iter * 5 / 4 (integer division)",
      1, 1e12);
  max_eval.keyword = "auto";
  registrar.add({
      "torch_lbfgs",
      "L-BFGS with torch.optim.LBFGS's exact semantics: steps, absolute tolerances, its strong Wolfe search "
      "(Paszke et al. 2019; Nocedal & Wright 2006, Alg. 7.4)",
      {
          kappa::real_param("lr", "1", "step of an iteration (the line search's first trial); the very first one is min(1, 1/|g|_1) lr",
                     0.0, true),
          kappa::integer_param("max_iter", "20", "iterations per step() call", 1, 1e12),
          max_eval,
          kappa::real_param("tolerance_grad", "1e-7", "a step() ends when max|g| <= tolerance_grad (absolute)", 0.0),
          kappa::real_param("tolerance_change", "1e-9",
                     "a step() ends when g.d > -tolerance_change, max|t d| <= tolerance_change or |f - f_prev| < "
                     "tolerance_change (absolute)",
                     0.0),
          kappa::integer_param("history_size", "100", "curvature pairs kept (a pair only if y.s > 1e-10)", 1, 1e9),
          kappa::choice_param("line_search_fn", "none",
                       "none (the fixed step t) or strong_wolfe (torch's _strong_wolfe with cubic interpolation)",
                       {"none", "strong_wolfe"}),
          kappa::integer_param("steps", "1", "step() calls on one optimizer state (torch's outer loop)", 1, 1e12),
      },
      [](const kappa::Params& params) -> std::unique_ptr<kappa::Optimizer> {
        Settings settings;
        settings.lr = params.get_real("lr");
        settings.max_iter = static_cast<long>(params.get_integer("max_iter"));
        settings.max_eval =
            params.is_auto("max_eval") ? settings.max_iter * 5 / 4 : static_cast<long>(params.get_integer("max_eval"));
        settings.tolerance_grad = params.get_real("tolerance_grad");
        settings.tolerance_change = params.get_real("tolerance_change");
        settings.history_size = static_cast<std::size_t>(params.get_integer("history_size"));
        settings.strong_wolfe = params.get_choice("line_search_fn") == "strong_wolfe";
        settings.steps = static_cast<long>(params.get_integer("steps"));
        return std::make_unique<TorchLbfgs>(settings);
      },
  });
}
