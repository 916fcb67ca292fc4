/* Learning-rate schedules and gradient clipping. */
#include <pathflow/train.h>

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"

static const char *SCHEDULE_NAMES[] = {"constant", "cosine"};

const char *pf_schedule_name(pf_schedule s) { return SCHEDULE_NAMES[s]; }

pf_status pf_schedule_from_name(const char *name, pf_schedule *schedule)
{
    for (int i = 0; i < 2; i++)
        if (name && strcmp(name, SCHEDULE_NAMES[i]) == 0) {
            *schedule = (pf_schedule)i;
            return PF_OK;
        }
    return pf_fail(PF_ERR_CONFIG, "schedule '%s' unknown (valid: constant, cosine)",
                   name ? name : "(null)");
}

double pf_schedule_lr(pf_schedule schedule, double lr, double min_lr, long step, long total,
                      long warmup)
{
    const double pi = 3.14159265358979323846;
    double rate = lr;
    if (schedule == PF_SCHEDULE_COSINE && total > 0) {
        double progress = (double)step / (double)total;
        if (progress > 1)
            progress = 1;
        rate = min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(pi * progress));
    }
    if (warmup > 0 && step < warmup)
        rate *= (double)(step + 1) / (double)warmup;
    return rate;
}

double pf_clip_grad_norm(size_t n, double *grad, double max_norm)
{
    double norm = sqrt(pf_sum_squares(n, grad));
    if (max_norm > 0 && norm > max_norm) {
        double scale = max_norm / norm;
        for (size_t i = 0; i < n; i++)
            grad[i] *= scale;
    }
    return norm;
}
