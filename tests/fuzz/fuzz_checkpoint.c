/* libFuzzer harness: arbitrary bytes as a checkpoint loaded into a small flow. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <pathflow/flow.h>
#include <pathflow/train.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pf_flow *flow;
    if (!flow) {
        pf_realnvp_options o = pf_realnvp_options_default();
        o.n_layers = 2;
        o.hidden[0] = o.hidden[1] = 4;
        if (pf_flow_realnvp_create(&o, &flow) != PF_OK)
            return 0;
    }
    char path[64];
    /* in memory when /dev/shm exists: ten times the executions of a disk */
    snprintf(path, sizeof path, "%s/pf_fuzz_%ld.pfc",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    pf_flow_load_checkpoint(flow, path);
    return 0;
}
