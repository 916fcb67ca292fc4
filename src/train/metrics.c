/* Importance-weight diagnostics (docs/theory.md §8), all in log space. */
#include <pathflow/train.h>

#include <math.h>

double pf_log_mean_exp(int N, const double *a)
{
    double max = -INFINITY;
    for (int i = 0; i < N; i++)
        if (a[i] > max)
            max = a[i];
    if (!isfinite(max))
        return max;
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += exp(a[i] - max);
    return max + log(sum / N);
}

/* (Σw)²/(N Σw²) = exp(2·lme(log w) − lme(2 log w)). log_w: N. */
double pf_reverse_ess(int N, const double *log_w)
{
    double max = -INFINITY;
    for (int i = 0; i < N; i++)
        if (log_w[i] > max)
            max = log_w[i];
    if (!isfinite(max))
        return NAN;
    double s1 = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        double w = exp(log_w[i] - max);
        s1 += w;
        s2 += w * w;
    }
    return s1 * s1 / (N * s2);
}

/* 1/(mean(w)·mean(1/w)): both means with their own shift. log_w: N. */
double pf_forward_ess(int N, const double *log_w)
{
    double max = -INFINITY, min = INFINITY;
    for (int i = 0; i < N; i++) {
        if (log_w[i] > max)
            max = log_w[i];
        if (log_w[i] < min)
            min = log_w[i];
    }
    if (!isfinite(max) || !isfinite(min))
        return NAN;
    double s_w = 0, s_inv = 0;
    for (int i = 0; i < N; i++) {
        s_w += exp(log_w[i] - max);
        s_inv += exp(min - log_w[i]);
    }
    /* mean(w)·mean(1/w) = (s_w e^max / N)(s_inv e^−min / N) */
    return exp(min - max) * (double)N * N / (s_w * s_inv);
}
