/* Data-parallel training: the share of rows of each process and the
 * collective steps built on one operation, an element-wise sum over the
 * processes (MPI_Allreduce through pathflow/mpi.h). Gathers are sums of
 * vectors that are zero outside each process's rows, so they are exact;
 * only the gradient and loss sums depend on the order of summation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/workspace.h"
#include "train/trainer_impl.h"

/* Characters of a failing process's message sent to the others. */
#define MESSAGE_DOUBLES 1024

static int parallel(const pf_trainer *t) { return t->par.size > 1; }

void pf_train_share(const pf_trainer *t, long total, long *first, long *count)
{
    const long long r = t->par.rank, n = t->par.size;
    *first = (long)(total * r / n);
    *count = (long)(total * (r + 1) / n) - *first;
}

static pf_status sum(pf_trainer *t, double *data, long n)
{
    if (t->par.sum(t->par.ctx, data, (int)n) != 0)
        return pf_fail(PF_ERR_PARALLEL, "process %d of %d: the sum over processes failed",
                       t->par.rank, t->par.size);
    return PF_OK;
}

/* flags[r]: the status of process r (0: success), already summed. Sends the
 * message of the lowest-ranked failing process to all. */
static pf_status settle(pf_trainer *t, const double *flags)
{
    int failing = -1;
    for (int r = 0; r < t->par.size && failing < 0; r++)
        if (flags[r] != 0)
            failing = r;
    if (failing < 0)
        return PF_OK;
    const pf_status st = (pf_status)flags[failing];
    double *msg = t->par_buf + t->n_params + 3 + t->par.size;
    memset(msg, 0, MESSAGE_DOUBLES * sizeof *msg);
    if (t->par.rank == failing) {
        const unsigned char *text = (const unsigned char *)pf_last_error();
        for (int i = 0; i < MESSAGE_DOUBLES - 1 && text[i]; i++)
            msg[i] = text[i];
    }
    PF_TRY(sum(t, msg, MESSAGE_DOUBLES));
    char text[MESSAGE_DOUBLES];
    for (int i = 0; i < MESSAGE_DOUBLES; i++)
        text[i] = (char)(unsigned char)msg[i];
    text[MESSAGE_DOUBLES - 1] = '\0';
    return pf_fail(st, "process %d of %d: %s", failing, t->par.size, text);
}

pf_status pf_trainer_agree(pf_trainer *t, pf_status st)
{
    if (!parallel(t))
        return st;
    double *flags = t->par_buf + t->n_params + 3;
    memset(flags, 0, (size_t)t->par.size * sizeof *flags);
    flags[t->par.rank] = (double)st;
    PF_TRY(sum(t, flags, t->par.size));
    return settle(t, flags);
}

int pf_train_any(pf_trainer *t, int flag)
{
    if (!parallel(t))
        return flag;
    double v = flag != 0;
    if (sum(t, &v, 1) != PF_OK)
        return 1; /* cannot agree: stop */
    return v != 0;
}

pf_status pf_train_gather(pf_trainer *t, double *v, long total, long first, long count)
{
    if (!parallel(t))
        return PF_OK;
    double *g = t->par_gather;
    memset(g, 0, (size_t)total * sizeof *g);
    memcpy(g + first, v + first, (size_t)count * sizeof *g);
    PF_TRY(sum(t, g, total));
    memcpy(v, g, (size_t)total * sizeof *v);
    return PF_OK;
}

pf_status pf_train_reduce_step(pf_trainer *t, pf_status st, long rows, long B, double *loss,
                               double *grad_norm, double *nfe_forward, double *nfe_backward)
{
    if (!parallel(t))
        return st;
    const size_t n = t->n_params;
    double *buf = t->par_buf, *flags = buf + n + 3;
    const double w = (double)rows / (double)B;
    if (st == PF_OK) {
        for (size_t i = 0; i < n; i++)
            buf[i] = w * t->grad[i];
        buf[n] = w * *loss;
    } else {
        memset(buf, 0, (n + 1) * sizeof *buf);
    }
    buf[n + 1] = *nfe_forward;
    buf[n + 2] = *nfe_backward;
    memset(flags, 0, (size_t)t->par.size * sizeof *flags);
    flags[t->par.rank] = (double)st;
    PF_TRY(sum(t, buf, (long)n + 3 + t->par.size));
    *nfe_forward = buf[n + 1];
    *nfe_backward = buf[n + 2];
    PF_TRY(settle(t, flags));
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        t->grad[i] = buf[i];
        sq += buf[i] * buf[i];
    }
    *loss = buf[n];
    *grad_norm = sqrt(sq);
    return PF_OK;
}

pf_status pf_trainer_set_parallel(pf_trainer *t, const pf_parallel *p)
{
    if (!t || !p || p->size < 1 || p->rank < 0 || p->rank >= p->size || !p->sum)
        return pf_fail(PF_ERR_ARG, "trainer: parallel: need 0 ≤ rank < size and a sum function");
    if (t->step != 0 || t->par_buf)
        return pf_fail(PF_ERR_ARG, "trainer: parallel: set it once, before the first step");
    const pf_train_options *o = &t->options;
    const long rows = o->data && o->n_data < o->batch ? o->n_data : o->batch;
    if (rows < p->size)
        return pf_fail(PF_ERR_ARG,
                       "trainer: a batch of %ld rows cannot be split over %d processes "
                       "(training.batch%s must be at least the number of processes)",
                       rows, p->size, rows < o->batch ? " and the training data" : "");
    const long n_gather = o->eval_samples > t->n_holdout ? o->eval_samples : t->n_holdout;
    t->par_buf = pf_alloc_doubles(t->n_params + 3 + (size_t)p->size + MESSAGE_DOUBLES,
                                  "trainer reduction");
    t->par_gather = pf_alloc_doubles((size_t)n_gather, "trainer reduction");
    if (!t->par_buf || !t->par_gather)
        return PF_ERR_NOMEM;
    t->par = *p;
    return PF_OK;
}
