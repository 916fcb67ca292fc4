/* The tool under mpirun. MPI starts only when a launcher set the process up
 * (OpenMPI, MPICH/Hydra and PMIx launchers export their size or rank), so a
 * plain `pathflow train` never touches MPI. Without MPI in the build, a
 * multi-process launch is refused: every process would run the whole job. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/linalg.h"

#ifdef PATHFLOW_HAVE_MPI
#include <pathflow/mpi.h>
static MPI_Comm world;
static int started;
#endif

/* The number of processes a launcher announced (1: none). */
static int launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return getenv("PMIX_RANK") ? 2 : 1; /* PMIx without a size: ask MPI */
}

#ifdef PATHFLOW_HAVE_MPI
/* Unless the user chose (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS), the processes
 * on one node share its cores: BLAS threads = cores / processes on the node. */
static void share_cores(void)
{
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local || getenv("OPENBLAS_NUM_THREADS") || getenv("OMP_NUM_THREADS"))
        return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN), per_node = atol(local);
    if (cores > 0 && per_node > 0)
        pf_blas_set_threads(cores / per_node > 1 ? (int)(cores / per_node) : 1);
}
#endif

int pf_cli_parallel_begin(pf_parallel *par)
{
    *par = (pf_parallel){0, 1, NULL, NULL};
    if (launched_size() <= 1)
        return 0;
#ifdef PATHFLOW_HAVE_MPI
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "pathflow: MPI_Init failed\n");
        return -1;
    }
    started = 1;
    world = MPI_COMM_WORLD;
    *par = pf_parallel_mpi(&world);
    share_cores();
    return 0;
#else
    fprintf(stderr, "pathflow: started as %d processes, but this pathflow was built without MPI "
                    "(configure with -DPATHFLOW_MPI=ON and an MPI installed)\n",
            launched_size());
    return -1;
#endif
}

int pf_cli_parallel_any(const pf_parallel *par, int flag)
{
    if (par->size <= 1)
        return flag;
    double v = flag != 0;
    if (par->sum(par->ctx, &v, 1) != 0)
        return 1;
    return v != 0;
}

void pf_cli_parallel_end(void)
{
#ifdef PATHFLOW_HAVE_MPI
    if (started)
        MPI_Finalize();
    started = 0;
#endif
}
