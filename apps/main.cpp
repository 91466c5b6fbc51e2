// The kappa command-line tool. Every error reaches the user as one line "kappa <command>: <reason>"
// with exit status 1 (2 for a usage mistake); nothing is thrown past main.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>

#include "cli.hpp"

namespace {

constexpr const char* usage = R"(kappa: numerical analysis of optimizers on least-squares problems

usage: kappa <command> [options]      (kappa <command> --help for its options)

commands:
  solve      run optimizers on one problem and compare them with the direct solution
  diagnose   measure the conditioning and predict what each optimizer can reach
  study      run a grid of tasks (INI file), serially or over MPI ranks, into one results file
  report     summarize a study's results file: convergence and errors per optimizer and axis
  generate   write a synthetic problem to an HDF5 file in the seed's layout
  plugins    list the optimizer plugins found on the plugin path, with their parameters
)";

}  // namespace

// OpenBLAS's thread control, if OpenBLAS is the BLAS that was loaded (weak: absent otherwise).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

int main(int argc, char** argv) {
  // kappa's iterative methods are matrix-vector products, memory-bound: on problems of the
  // seed's size extra BLAS threads only add synchronization (measured 5x slower with 2 threads
  // on 600 x 600), and under MPI the ranks already fill the cores. So one thread, unless the
  // user asked otherwise through the environment.
  if (openblas_set_num_threads && !std::getenv("OPENBLAS_NUM_THREADS") && !std::getenv("OMP_NUM_THREADS"))
    openblas_set_num_threads(1);
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << usage;
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::cout << "kappa " KAPPA_VERSION "\n";
    return 0;
  }
  const std::string command = argv[1];
  try {
    // The command sees its own name as argv[0].
    if (command == "solve") return kappa::cli::run_solve(argc - 1, argv + 1);
    if (command == "diagnose") return kappa::cli::run_diagnose(argc - 1, argv + 1);
    if (command == "study") return kappa::cli::run_study(argc - 1, argv + 1);
    if (command == "report") return kappa::cli::run_report(argc - 1, argv + 1);
    if (command == "generate") return kappa::cli::run_generate(argc - 1, argv + 1);
    if (command == "plugins") return kappa::cli::run_plugins(argc - 1, argv + 1);
    if (command == "task-process") return kappa::cli::run_task_process(argc - 1, argv + 1);
    kappa::cli::print_line("kappa: unknown command '" + command + "' (commands: solve, diagnose, study, report, generate, plugins; see kappa --help)");
    return 2;
  } catch (const kappa::cli::UsageError& error) {
    kappa::cli::print_line("kappa " + command + ": " + error.what());
    return 2;
  } catch (const std::bad_alloc&) {
    kappa::cli::print_line("kappa " + command + ": out of memory (the problem is too large for this machine)");
    return 1;
  } catch (const std::exception& error) {
    kappa::cli::print_line("kappa " + command + ": " + error.what());
    return 1;
  } catch (...) {  // e.g. `throw 42` from a plugin: still one line, not std::terminate
    kappa::cli::print_line("kappa " + command + ": failed with a non-standard exception (from a plugin?)");
    return 1;
  }
}
