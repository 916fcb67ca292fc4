/* Adam with bias correction (Kingma & Ba 2015), state in two flat arrays. */
#include <pathflow/train.h>

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/workspace.h"

struct pf_adam {
    size_t n;
    double beta1, beta2, eps;
    double *m, *v; /* n each */
    long t;
};

pf_status pf_adam_create(size_t n, double beta1, double beta2, double eps, pf_adam **out)
{
    *out = NULL;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0))
        return pf_fail(PF_ERR_ARG, "adam: need 0 ≤ beta1, beta2 < 1 and eps > 0 (got %g, %g, %g)",
                       beta1, beta2, eps);
    pf_adam *a = calloc(1, sizeof *a);
    if (!a)
        return pf_fail(PF_ERR_NOMEM, "adam: cannot allocate");
    a->m = pf_alloc_doubles(n ? n : 1, "adam first moment");
    a->v = pf_alloc_doubles(n ? n : 1, "adam second moment");
    if (!a->m || !a->v) {
        pf_adam_destroy(a);
        return PF_ERR_NOMEM;
    }
    a->n = n;
    a->beta1 = beta1;
    a->beta2 = beta2;
    a->eps = eps;
    *out = a;
    return PF_OK;
}

void pf_adam_destroy(pf_adam *a)
{
    if (!a)
        return;
    pf_free(a->m);
    pf_free(a->v);
    free(a);
}

/* The update loop is compiled for AVX-512, AVX2 and plain x86-64, chosen by
 * the CPU at load time. Every operation in it (add, multiply, divide, sqrt) is
 * correctly rounded and nothing is fused (-ffp-contract=off for this file), so
 * every clone gives the same bits as the scalar loop: training trajectories and
 * checkpoints do not depend on the processor. */
#if defined(PATHFLOW_SIMD_X86) && defined(__GNUC__) && !defined(__clang__)
#define PF_ADAM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PF_ADAM_CLONES
#endif

PF_ADAM_CLONES static void adam_update(size_t n, double *restrict params,
                                       const double *restrict grad, double *restrict m,
                                       double *restrict v, double b1, double b2,
                                       double correction1, double correction2, double eps,
                                       double lr)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * grad[i];
        v[i] = b2 * v[i] + (1.0 - b2) * grad[i] * grad[i];
        params[i] -= lr * (m[i] / correction1) / (sqrt(v[i] / correction2) + eps);
    }
}

/* params, grad: n. */
void pf_adam_step(pf_adam *a, double *params, const double *grad, double lr)
{
    a->t++;
    const double b1 = a->beta1, b2 = a->beta2;
    const double correction1 = 1.0 - pow(b1, (double)a->t);
    const double correction2 = 1.0 - pow(b2, (double)a->t);
    adam_update(a->n, params, grad, a->m, a->v, b1, b2, correction1, correction2, a->eps, lr);
}

void pf_adam_state(pf_adam *a, double **m, double **v, long **t)
{
    *m = a->m;
    *v = a->v;
    *t = &a->t;
}
