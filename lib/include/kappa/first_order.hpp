#pragma once
// The iteration loop shared by first-order plugins (ensmallen's "update policy" idea): the
// framework evaluates f and grad f, reports to the Monitor and asks the plugin only for its
// update rule. One full-data loss+gradient evaluation per iteration.
//
// A later version adds minibatches and step-size schedules here, so that every first-order
// plugin gets them the same way.

#include "kappa/monitor.hpp"
#include "kappa/problem.hpp"

namespace kappa {

// Calls update(w, gradient, iteration) after each report until the monitor stops the run.
// `iteration` is the index of the iterate being updated (0 for the first update); `gradient`
// is grad f(w) at that iterate.
template <class Update>
void iterate_first_order(const Problem& problem, Vec& w, Monitor& monitor, Update&& update) {
  Vec gradient;
  real loss = problem.loss_grad(w, gradient);
  for (long iteration = 0; !monitor.report(iteration, loss, arma::norm(gradient), w); ++iteration) {
    update(w, gradient, iteration);
    loss = problem.loss_grad(w, gradient);
  }
}

}  // namespace kappa
