// Optimizers that bring down the process running them, for the crash-isolation tests (docs/study.md,
// "Crash-isolated tasks"): each runs gradient descent with a small fixed step, reporting every
// iteration, and at iteration `fault_at` (a parameter; -1: never, so the same optimizer also
// gives healthy rows) does what a broken plugin does:
//   fault_segfault  raise(SIGSEGV), as a bad pointer does
//   fault_abort     std::abort(), as a failed assert() does
//   fault_exit      std::exit(0), as a library that "handles" an error by exiting does
//   fault_alloc     malloc()s and touches 256 MB blocks without checking for NULL until the
//                   process's memory limit makes one fail (then writes through NULL), as a C
//                   plugin that assumes memory never runs out; at most `max_gb` GB
//   fault_silent    stops reporting and spins, as a plugin stuck in an inner loop: only the
//                   framework's kill after time_limit plus its grace ends it
//   fault_lockstep  gradient descent on the framework's first-order loop, declared lockstep (so
//                   a study groups it with gd tasks of its problem), that raises SIGSEGV in its
//                   update at iteration fault_at: a crash inside a lockstep group
// Built into its own directory (fault_plugins), never beside the real plugins.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

enum class Fault { segfault, abort, exit, alloc, silent };

void fault(Fault kind, double max_gb) {
  switch (kind) {
    case Fault::segfault:
      std::raise(SIGSEGV);
      break;
    case Fault::abort:
      std::abort();
    case Fault::exit:
      std::exit(0);
    case Fault::alloc: {
      constexpr std::size_t block = 256u << 20;
      std::vector<void*> blocks;
      for (double taken = 0; taken < max_gb; taken += 0.25) {
        void* memory = std::malloc(block);
        std::memset(memory, 1, block);  // NULL once the limit is reached: SIGSEGV
        blocks.push_back(memory);
      }
      std::raise(SIGSEGV);  // max_gb reached without a limit: still a crash, never a result
      break;
    }
    case Fault::silent: {
      volatile unsigned long spin = 0;
      while (true) spin = spin + 1;
    }
  }
}

auto faulty(Fault kind) {
  return [kind](const kappa::Params& params, const kappa::Problem& problem, kappa::Vec& w, kappa::Monitor& monitor) {
    const long fault_at = params.get_integer("fault_at");
    const double lr = params.get_real("lr");
    kappa::Vec gradient(w.n_elem);
    for (long k = 0;; ++k) {
      if (k == fault_at) fault(kind, params.get_real("max_gb"));
      const kappa::real loss = problem.loss_grad(w, gradient);
      if (monitor.report(k, loss, arma::norm(gradient), w)) return;
      w -= lr * gradient;
    }
  };
}

std::vector<kappa::ParamSpec> fault_params() {
  return {kappa::integer_param("fault_at", "2", "iteration at which the fault happens (-1: never)", -1),
          kappa::real_param("lr", "1e-3", "fixed step of the gradient descent around the fault", 0),
          kappa::real_param("max_gb", "64", "fault_alloc: stop allocating after this many GB", 0)};
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"fault_segfault", "gd that raises SIGSEGV at iteration fault_at", fault_params(),
                 kappa::function_optimizer(faulty(Fault::segfault))});
  registrar.add({"fault_abort", "gd that calls abort() at iteration fault_at", fault_params(), kappa::function_optimizer(faulty(Fault::abort))});
  registrar.add({"fault_exit", "gd that calls exit(0) at iteration fault_at", fault_params(), kappa::function_optimizer(faulty(Fault::exit))});
  registrar.add({"fault_alloc", "gd that allocates without bound at iteration fault_at", fault_params(),
                 kappa::function_optimizer(faulty(Fault::alloc))});
  registrar.add({"fault_silent", "gd that stops reporting and spins at iteration fault_at", fault_params(),
                 kappa::function_optimizer(faulty(Fault::silent))});
  registrar.add({"fault_lockstep", "gd on the first-order loop (lockstep) that raises SIGSEGV at update fault_at",
                 kappa::with_params(kappa::first_order_params("1e-3"),
                                    {kappa::integer_param("fault_at", "2", "update at which it crashes (-1: never)", -1)}),
                 kappa::function_optimizer([](const kappa::Params& params, const kappa::Problem& problem, kappa::Vec& w,
                                              kappa::Monitor& monitor) {
                   const long fault_at = params.get_integer("fault_at");
                   kappa::iterate_first_order(params, problem, w, monitor,
                                              [fault_at](kappa::Vec& weights, const kappa::Vec& gradient, long k, kappa::real step) {
                                                if (k == fault_at) std::raise(SIGSEGV);
                                                weights -= step * gradient;
                                              });
                 }),
                 {},
                 true});
}
