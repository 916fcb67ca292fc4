/* libFuzzer harness: arbitrary bytes as a .npy file for pf_npy_read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    /* in memory when /dev/shm exists: ten times the executions of a disk */
    snprintf(path, sizeof path, "%s/pf_fuzz_%ld.npy",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x = NULL;
    if (pf_npy_read(path, &ndim, shape, &x) == PF_OK)
        free(x);
    return 0;
}
