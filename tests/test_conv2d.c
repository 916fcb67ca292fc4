/* Tests for src/nn/conv2d.c: the periodic convolution against a direct
 * loop, and its VJPs (input and parameters) against finite differences. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv2d.h"
#include "testutil.h"

enum { L0 = 4, L1 = 6, V = L0 * L1, B = 2, CIN = 2, COUT = 3, K = 3 };

Test(conv2d, single_layer_equals_a_direct_periodic_loop)
{
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, L0, L1, CIN, 0, NULL, COUT, K, PF_ACT_TANH), PF_OK);
    double *theta = malloc(cnn.n_params * sizeof *theta), x[B * V * CIN], y[B * V * COUT];
    pft_fill_normal(1, cnn.n_params, theta, 0.5);
    pft_fill_normal(2, B * V * CIN, x, 1.0);
    pf_cnn_tape *tape;
    cr_assert_eq(pf_cnn_tape_create(&cnn, B, &tape), PF_OK);
    pf_cnn_forward(&cnn, theta, tape, B, x, y);
    const double *W = theta + cnn.w_offset[0], *bias = theta + cnn.b_offset[0];
    for (int b = 0; b < B; b++)
        for (int x0 = 0; x0 < L0; x0++)
            for (int x1 = 0; x1 < L1; x1++)
                for (int o = 0; o < COUT; o++) {
                    double s = bias[o];
                    for (int a = -1; a <= 1; a++)
                        for (int c = -1; c <= 1; c++)
                            for (int i = 0; i < CIN; i++) {
                                int y0 = (x0 + a + L0) % L0, y1 = (x1 + c + L1) % L1;
                                s += W[o * K * K * CIN + ((a + 1) * K + (c + 1)) * CIN + i] *
                                     x[(b * V + y0 * L1 + y1) * CIN + i];
                            }
                    double got = y[(b * V + x0 * L1 + x1) * COUT + o];
                    cr_assert_float_eq(got, s, 1e-13, "(%d,%d,%d,%d): %g vs %g", b, x0, x1, o, got, s);
                }
    pf_cnn_tape_destroy(tape);
    free(theta);
}

typedef struct ctx {
    pf_cnn cnn;
    pf_cnn_tape *tape;
    double *theta, *x, *ybar, *y;
} ctx;

static double objective(void *p, const double *unused)
{
    (void)unused;
    ctx *c = p;
    pf_cnn_forward(&c->cnn, c->theta, c->tape, B, c->x, c->y);
    double s = 0;
    for (int i = 0; i < B * V * COUT; i++)
        s += c->ybar[i] * c->y[i];
    return s;
}

Test(conv2d, backward_matches_finite_differences_for_a_deep_network)
{
    ctx c;
    int hidden[2] = {4, 5};
    cr_assert_eq(pf_cnn_init(&c.cnn, L0, L1, CIN, 2, hidden, COUT, K, PF_ACT_TANH), PF_OK);
    cr_assert_eq(pf_cnn_tape_create(&c.cnn, B, &c.tape), PF_OK);
    const size_t np = c.cnn.n_params, nx = B * V * CIN;
    c.theta = malloc(np * sizeof(double));
    c.x = malloc(nx * sizeof(double));
    c.ybar = malloc(B * V * COUT * sizeof(double));
    c.y = malloc(B * V * COUT * sizeof(double));
    pft_fill_normal(3, np, c.theta, 0.6);
    pft_fill_normal(4, nx, c.x, 1.0);
    pft_fill_normal(5, B * V * COUT, c.ybar, 1.0);
    double *fd_p = malloc(np * sizeof *fd_p), *fd_x = malloc(nx * sizeof *fd_x);
    pft_fd_gradient(objective, &c, np, c.theta, 1e-5, fd_p);
    pft_fd_gradient(objective, &c, nx, c.x, 1e-5, fd_x);
    double *grad = calloc(np, sizeof *grad), *xbar = calloc(nx, sizeof *xbar);
    objective(&c, NULL);
    pf_cnn_backward(&c.cnn, c.theta, c.tape, B, c.ybar, grad, xbar);
    double ep = pft_rel_err(np, grad, fd_p, 1e-8), ex = pft_rel_err(nx, xbar, fd_x, 1e-8);
    cr_assert_lt(ep, 1e-6, "parameter gradient rel err %g", ep);
    cr_assert_lt(ex, 1e-6, "input cotangent rel err %g", ex);
    free(fd_p); free(fd_x); free(grad); free(xbar);
    free(c.theta); free(c.x); free(c.ybar); free(c.y);
    pf_cnn_tape_destroy(c.tape);
}

Test(conv2d, even_or_oversized_kernels_are_refused)
{
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, 4, 4, 2, 0, NULL, 3, 2, PF_ACT_TANH), PF_ERR_ARG);
    cr_assert_eq(pf_cnn_init(&cnn, 4, 4, 2, 0, NULL, 3, 5, PF_ACT_TANH), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "kernel"), "%s", pf_last_error());
}
