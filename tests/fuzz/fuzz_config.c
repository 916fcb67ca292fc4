/* libFuzzer harness: arbitrary bytes as an experiment configuration (load and
 * validate; no build, so a fuzzed dimension cannot make it allocate). */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <pathflow/experiment.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    /* in memory when /dev/shm exists: ten times the executions of a disk */
    snprintf(path, sizeof path, "%s/pf_fuzz_%ld.cfg",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    pf_experiment *e = NULL;
    pf_experiment_load(path, NULL, 0, &e);
    pf_experiment_destroy(e);
    return 0;
}
