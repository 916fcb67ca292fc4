#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <sys/wait.h>

#include <pathflow/rng.h>

void pft_fill_normal(uint64_t seed, size_t n, double *x, double scale)
{
    pf_rng rng = pf_rng_make(seed, 999);
    pf_rng_normal(&rng, n, x);
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
}

void pft_fill_uniform(uint64_t seed, size_t n, double *x, double lo, double hi)
{
    pf_rng rng = pf_rng_make(seed, 998);
    pf_rng_uniform(&rng, n, x);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * x[i];
}

double pft_rel_err(size_t n, const double *a, const double *b, double floor)
{
    double diff = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    double scale = fmax(fmax(sqrt(na), sqrt(nb)), floor);
    return sqrt(diff) / scale;
}

double pft_max_rel_err(size_t n, const double *a, const double *b, double floor)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), floor);
        double e = fabs(a[i] - b[i]) / scale;
        if (e > worst || isnan(e))
            worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

double pft_max_abs(size_t n, const double *a)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

void pft_fd_gradient(pft_scalar_fn f, void *ctx, size_t n, double *x, double h, double *grad)
{
    for (size_t i = 0; i < n; i++) {
        double xi = x[i];
        x[i] = xi - 2 * h;
        double fm2 = f(ctx, x);
        x[i] = xi - h;
        double fm1 = f(ctx, x);
        x[i] = xi + h;
        double fp1 = f(ctx, x);
        x[i] = xi + 2 * h;
        double fp2 = f(ctx, x);
        x[i] = xi;
        grad[i] = (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h);
    }
}

void pft_fd_jacobian(pft_vector_fn f, void *ctx, size_t m, size_t n, double *x, double h,
                     double *J, double *scratch)
{
    double *ym2 = scratch, *ym1 = scratch + m, *yp1 = scratch + 2 * m, *yp2 = scratch + 3 * m;
    for (size_t j = 0; j < n; j++) {
        double xj = x[j];
        x[j] = xj - 2 * h;
        f(ctx, x, ym2);
        x[j] = xj - h;
        f(ctx, x, ym1);
        x[j] = xj + h;
        f(ctx, x, yp1);
        x[j] = xj + 2 * h;
        f(ctx, x, yp2);
        x[j] = xj;
        for (size_t i = 0; i < m; i++)
            J[i * n + j] = (ym2[i] - 8 * ym1[i] + 8 * yp1[i] - yp2[i]) / (12 * h);
    }
}

int pft_shell(const char *command, char *out, size_t size)
{
    FILE *p = popen(command, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
