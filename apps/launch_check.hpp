#pragma once
// Launch mistakes that would otherwise run a study several times over (issue 15): Slurm started
// several tasks for one step, or an MPI launcher announced a world size, but MPI formed a world
// of another size (typically srun without --mpi on a cluster whose MpiDefault is none: every
// task is a one-rank study writing the same file).

#include <functional>
#include <optional>
#include <string>

namespace kappa::cli {

// The environment as seen by the check (std::getenv in kappa; a table in a test).
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment process_environment();

// Throws InputError, one line naming the variable, its value, the world size and the likely
// fix, when the launcher's task count and `world_size` disagree.
void check_launch(int world_size, const Environment& environment = process_environment());

}  // namespace kappa::cli
