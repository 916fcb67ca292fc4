/* Internal: the pf_flow object — an ops table filled by each flow kind
 * (chain of layers, CNF, ...) plus what every flow has. */
#ifndef PF_FLOWS_FLOW_IMPL_H
#define PF_FLOWS_FLOW_IMPL_H

#include <pathflow/flow.h>

typedef struct pf_flow_ops {
    const char *kind;
    pf_status (*reserve)(pf_flow *flow, int B_max);
    pf_status (*forward)(pf_flow *flow, int B, const double *z, double *x, double *ldj,
                         const double *score_in, double *score_out);
    pf_status (*inverse)(pf_flow *flow, int B, const double *x, double *z, double *ldj_inv,
                         const double *score_in, double *score_out);
    pf_status (*backward)(pf_flow *flow, int B, const double *out_bar, const double *ldj_bar,
                          double *grad, double *in_bar);
    void (*destroy)(pf_flow *flow); /* frees content (not params, not the flow) */
} pf_flow_ops;

struct pf_flow {
    const pf_flow_ops *ops;
    void *content;
    char kind[16]; /* "realnvp", "cnf", "u1" (ops->kind unless a constructor renames) */
    int dim;
    pf_base_kind base;
    double base_shift; /* m of PF_BASE_Z2_MIXTURE, 0 otherwise */
    size_t n_params;
    double *params; /* n_params, aligned, owned */
    int B_max;      /* batch size the tape is sized for (0: not yet) */
    int last_pass;  /* 0 none, 1 forward, −1 inverse: what backward differentiates */
    int last_B;     /* batch size of that pass */
    char description[512];
    pf_ode_stats *ode_stats; /* solver statistics of a CNF, NULL otherwise */
    long root_calls;         /* root-finder invocations (implicit layers) */
    int noise_set;           /* pf_flow_set_noise was called: */
    uint64_t noise_key, noise_row; /* its key and first row */
};

/* Allocates a flow with n_params zeroed parameters; the caller fills ops,
 * content and description. */
pf_status pf_flow_alloc(const pf_flow_ops *ops, int dim, pf_base_kind base, size_t n_params,
                        pf_flow **out);

/* Appends "hidden=[w0,w1,...]" to flow->description (truncating safely). */
void pf_flow_describe_widths(pf_flow *flow, int n, const int *widths);

#endif
