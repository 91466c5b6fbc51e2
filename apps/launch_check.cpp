#include "launch_check.hpp"

#include <cstdlib>

#include <kappa/error.hpp>

namespace kappa::cli {
namespace {

// A positive count, or nothing (unset, empty or not a number: no claim to check).
std::optional<long long> count(const Environment& environment, const std::string& name) {
  const std::optional<std::string> text = environment(name);
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  const long long value = std::strtoll(text->c_str(), &end, 10);
  if (*end != '\0' || value < 1) return std::nullopt;
  return value;
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
}

void check_launch(int world_size, const Environment& environment) {
  const std::string world = "MPI sees a world of " + std::to_string(world_size) + " rank" + (world_size == 1 ? "" : "s");
  // An MPI launcher's own count decides first: under mpirun the Slurm variables describe the
  // step of mpirun's daemons, not the ranks.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const auto size = count(environment, name)) {
      if (*size != world_size)
        throw InputError(std::string(name) + "=" + std::to_string(*size) + " but " + world +
                         ": the ranks did not join one MPI world (launch with the MPI that built kappa: mpirun, or srun --mpi=pmix)");
      return;
    }
  // A Slurm step (srun) with several tasks; a batch script's own shell has no step id.
  if (!environment("SLURM_STEP_ID")) return;
  for (const char* name : {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"})
    if (const auto tasks = count(environment, name)) {
      if (*tasks > 1 && world_size == 1)
        throw InputError(std::string(name) + "=" + std::to_string(*tasks) + " but " + world +
                         ": every task would run the whole study alone; launch with srun --mpi=pmix (or mpirun)");
      return;
    }
}

}  // namespace kappa::cli
