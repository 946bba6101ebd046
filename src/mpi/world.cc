// world.cc — the processes of this run: the MPI world (src/mpi/mpi_comm.cc)
// when dgm is built with MPI and started by a launcher, else the one-rank
// communicator. The one library file that knows whether MPI is built in
// (DGM_HAVE_MPI): it sits in its own CMake target, so that switching
// -DDGM_MPI on or off recompiles it and mpi_comm.cc, not the library.
#include <cstdlib>
#include <memory>
#include <string>

#include "dgm/comm.h"

namespace dgm {

#ifdef DGM_HAVE_MPI
// src/mpi/mpi_comm.cc
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds);
#endif

bool mpi_built() {
#ifdef DGM_HAVE_MPI
  return true;
#else
  return false;
#endif
}

namespace {

// The number of processes a launcher started, from the variables Open MPI,
// MPICH/Hydra and PMIx set; 0 when not started by one.
long launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(name);
    if (v && *v) return std::strtol(v, nullptr, 10);
  }
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

}  // namespace

std::unique_ptr<Communicator> world_communicator(double timeout_seconds) {
  const long launched = launcher_size();
#ifdef DGM_HAVE_MPI
  if (launched > 0) return make_mpi_communicator(timeout_seconds);
#else
  (void)timeout_seconds;
  if (launched > 1)
    throw ConfigError("started by mpirun with " + std::to_string(launched) +
                      " processes, but this dgm was built without MPI: install Open MPI (scripts/setup.sh --mpi) "
                      "and rebuild (cmake -DDGM_MPI=ON), or run without mpirun");
#endif
  return std::make_unique<LocalCommunicator>();
}

}  // namespace dgm
