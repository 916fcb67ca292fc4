/* Data-parallel training over MPI: a pf_parallel on an MPI communicator.
 *
 * Header-only: include it where <mpi.h> is available and link your MPI; the
 * pathflow library itself does not depend on MPI.
 *
 *   MPI_Comm comm = MPI_COMM_WORLD;         // must outlive the trainer
 *   pf_parallel par = pf_parallel_mpi(&comm);
 *   pf_trainer_set_parallel(trainer, &par); // or pf_experiment_set_parallel
 *
 * Every process then runs the same training; sums go through MPI_Allreduce
 * (MPI_SUM on doubles). `pathflow train` does this when started by mpirun. */
#ifndef PATHFLOW_MPI_H
#define PATHFLOW_MPI_H

#include <mpi.h>

#include <pathflow/train.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int pf_parallel_mpi_sum(void *comm, double *data, int n)
{
    return MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_DOUBLE, MPI_SUM, *(MPI_Comm *)comm) ==
                   MPI_SUCCESS
               ? 0
               : -1;
}

/* rank and size of *comm; the pointer is kept, not the handle. */
static inline pf_parallel pf_parallel_mpi(MPI_Comm *comm)
{
    pf_parallel p;
    MPI_Comm_rank(*comm, &p.rank);
    MPI_Comm_size(*comm, &p.size);
    p.sum = pf_parallel_mpi_sum;
    p.ctx = comm;
    return p;
}

#ifdef __cplusplus
}
#endif

#endif
