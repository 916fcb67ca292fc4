/* Tests for src/nn/conv2d.c: the periodic convolution against a direct
 * loop, and its VJPs (input and parameters) against finite differences, by
 * both routes (direct kernels and im2col + GEMM); the two routes against each
 * other at every direct width. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv2d.h"
#include "testutil.h"

enum { L0 = 4, L1 = 6, V = L0 * L1, B = 2, CIN = 2, COUT = 3, K = 3 };

/* direct_max of the two routes: every layer direct, every layer by GEMM */
static const int ROUTES[2] = {PF_CNN_DIRECT_MAX, 0};

Test(conv2d, single_layer_equals_a_direct_periodic_loop)
{
  for (int route = 0; route < 2; route++) {
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, L0, L1, CIN, 0, NULL, COUT, K, PF_ACT_TANH), PF_OK);
    cnn.direct_max = ROUTES[route];
    cr_assert_eq(pf_cnn_layer_direct(&cnn, 0), route == 0);
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
                    cr_assert_float_eq(got, s, 1e-13, "route %d (%d,%d,%d,%d): %g vs %g", route, b,
                                       x0, x1, o, got, s);
                }
    pf_cnn_tape_destroy(tape);
    free(theta);
  }
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
  /* routes: all direct, all GEMM, and mixed (2 → 17 by GEMM, 17 → 5 by GEMM,
   * 5 → 3 direct) */
  for (int route = 0; route < 3; route++) {
    ctx c;
    int hidden[2] = {4, 5};
    if (route == 2)
        hidden[0] = PF_CNN_DIRECT_MAX + 1;
    cr_assert_eq(pf_cnn_init(&c.cnn, L0, L1, CIN, 2, hidden, COUT, K, PF_ACT_TANH), PF_OK);
    if (route < 2)
        c.cnn.direct_max = ROUTES[route];
    else
        cr_assert(!pf_cnn_layer_direct(&c.cnn, 0) && !pf_cnn_layer_direct(&c.cnn, 1) &&
                  pf_cnn_layer_direct(&c.cnn, 2));
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
    cr_assert_lt(ep, 1e-6, "route %d: parameter gradient rel err %g", route, ep);
    cr_assert_lt(ex, 1e-6, "route %d: input cotangent rel err %g", route, ex);
    free(fd_p); free(fd_x); free(grad); free(xbar);
    free(c.theta); free(c.x); free(c.ybar); free(c.y);
    pf_cnn_tape_destroy(c.tape);
  }
}

/* One layer, direct and by GEMM: outputs, parameter gradients and input
 * cotangents equal to rounding. Channel pairs (C_in, C_out) = (1, w), (w, w)
 * and (w, w − 1) for w = 1..16 run every compiled width of every direct
 * form: forward "axpy" (C_out ≥ C_in, width C_out) and "dot" (width C_in),
 * input cotangent "axpy" (width C_in) and "dot" (width C_out), weight
 * gradient (width C_out). On a 5×3 lattice (odd sizes, kernel 3 wrapping both
 * ways; 15 sites, so the kernels go site by site) and a 4×6 one (24 sites:
 * blocks of 8 sites in each batch row), batch 3; and a deep network with a
 * hidden layer of each width. */
static void compare_routes(int M0, int M1, int cin, int n_hidden, const int *hidden, int cout,
                           unsigned seed)
{
    enum { MB = 3 };
    const int MV = M0 * M1;
    pf_cnn net[2];
    pf_cnn_tape *tape[2];
    double *y[2], *grad[2], *xbar[2];
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(pf_cnn_init(&net[r], M0, M1, cin, n_hidden, hidden, cout, 3, PF_ACT_TANH),
                     PF_OK);
        net[r].direct_max = ROUTES[r];
        cr_assert_eq(pf_cnn_tape_create(&net[r], MB, &tape[r]), PF_OK);
    }
    const size_t np = net[0].n_params, nx = (size_t)MB * MV * cin, ny = (size_t)MB * MV * cout;
    double *theta = malloc(np * sizeof *theta), *x = malloc(nx * sizeof *x);
    double *ybar = malloc(ny * sizeof *ybar);
    pft_fill_normal(seed, np, theta, 0.4);
    pft_fill_normal(seed + 1, nx, x, 1.0);
    pft_fill_normal(seed + 2, ny, ybar, 1.0);
    for (int r = 0; r < 2; r++) {
        y[r] = malloc(ny * sizeof *y[r]);
        grad[r] = calloc(np, sizeof *grad[r]);
        xbar[r] = calloc(nx, sizeof *xbar[r]);
        for (size_t i = 0; i < nx; i++)
            xbar[r][i] = 0.25; /* the input cotangent accumulates */
        pf_cnn_forward(&net[r], theta, tape[r], MB, x, y[r]);
        pf_cnn_backward(&net[r], theta, tape[r], MB, ybar, grad[r], xbar[r]);
    }
    double ey = pft_rel_err(ny, y[0], y[1], 1e-12), eg = pft_rel_err(np, grad[0], grad[1], 1e-12);
    double ex = pft_rel_err(nx, xbar[0], xbar[1], 1e-12);
    cr_assert_lt(ey, 1e-13, "%d → %d: outputs differ by %g", cin, cout, ey);
    cr_assert_lt(eg, 1e-12, "%d → %d: parameter gradients differ by %g", cin, cout, eg);
    cr_assert_lt(ex, 1e-12, "%d → %d: input cotangents differ by %g", cin, cout, ex);
    for (int r = 0; r < 2; r++) {
        free(y[r]); free(grad[r]); free(xbar[r]);
        pf_cnn_tape_destroy(tape[r]);
    }
    free(theta); free(x); free(ybar);
}

Test(conv2d, the_direct_kernels_equal_im2col_and_gemm_at_every_width)
{
    static const int lattice[2][2] = {{5, 3}, {4, 6}};
    for (int l = 0; l < 2; l++)
        for (int w = 1; w <= PF_CNN_DIRECT_MAX; w++) {
            const int M0 = lattice[l][0], M1 = lattice[l][1];
            compare_routes(M0, M1, 1, 0, NULL, w, 100u + 3u * w);
            compare_routes(M0, M1, w, 0, NULL, w, 200u + 3u * w);
            if (w > 1)
                compare_routes(M0, M1, w, 0, NULL, w - 1, 300u + 3u * w);
            int hidden[1] = {w};
            compare_routes(M0, M1, 2, 1, hidden, 3, 400u + 3u * w);
        }
}

Test(conv2d, even_or_oversized_kernels_are_refused)
{
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, 4, 4, 2, 0, NULL, 3, 2, PF_ACT_TANH), PF_ERR_ARG);
    cr_assert_eq(pf_cnn_init(&cnn, 4, 4, 2, 0, NULL, 3, 5, PF_ACT_TANH), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "kernel"), "%s", pf_last_error());
}
