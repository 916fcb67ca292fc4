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

/* Two 3×3-kernel tanh networks of the same shape on an M0×M1 lattice with
 * tapes for `rows` batch rows, net[r] on route direct_max[r]. */
static void make_pair(pf_cnn net[2], pf_cnn_tape *tape[2], int rows, int M0, int M1, int cin,
                      int n_hidden, const int *hidden, int cout, const int direct_max[2])
{
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(pf_cnn_init(&net[r], M0, M1, cin, n_hidden, hidden, cout, 3, PF_ACT_TANH),
                     PF_OK);
        net[r].direct_max = direct_max[r];
        cr_assert_eq(pf_cnn_tape_create(&net[r], rows, &tape[r]), PF_OK);
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
    make_pair(net, tape, MB, M0, M1, cin, n_hidden, hidden, cout, ROUTES);
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

/* Outputs wanted at listed sites only (pf_cnn_set_output_sites): at those
 * sites the outputs equal the full network's, elsewhere they are 0; for a
 * cotangent that lives on those sites, the parameter gradient and the input
 * cotangent equal the full network's. One route (direct_max), one lattice. */
static void compare_output_sites(int M0, int M1, int n_hidden, const int *hidden, int cout,
                                 int n, const int *sites, int direct_max, unsigned seed)
{
    enum { MB = 3, NIN = 2 };
    const int MV = M0 * M1;
    pf_cnn net[2];
    pf_cnn_tape *tape[2];
    double *y[2], *grad[2], *xbar[2];
    const int same[2] = {direct_max, direct_max};
    make_pair(net, tape, MB, M0, M1, NIN, n_hidden, hidden, cout, same);
    cr_assert_eq(pf_cnn_set_output_sites(&net[1], n, sites), PF_OK);
    const size_t np = net[0].n_params, nx = (size_t)MB * MV * NIN, ny = (size_t)MB * MV * cout;
    double *theta = malloc(np * sizeof *theta), *x = malloc(nx * sizeof *x);
    double *ybar = calloc(ny, sizeof *ybar);
    pft_fill_normal(seed, np, theta, 0.4);
    pft_fill_normal(seed + 1, nx, x, 1.0);
    char *listed = calloc((size_t)MV, 1);
    for (int i = 0; i < n; i++)
        listed[sites[i]] = 1;
    for (int b = 0; b < MB; b++) /* the cotangent on the listed sites */
        for (int i = 0; i < n; i++)
            pft_fill_normal(seed + 7u * b + 11u * i, cout,
                            ybar + ((size_t)b * MV + sites[i]) * cout, 1.0);
    for (int r = 0; r < 2; r++) {
        y[r] = malloc(ny * sizeof *y[r]);
        for (size_t i = 0; i < ny; i++)
            y[r][i] = NAN; /* every entry is written */
        grad[r] = calloc(np, sizeof *grad[r]);
        xbar[r] = calloc(nx, sizeof *xbar[r]);
        for (size_t i = 0; i < nx; i++)
            xbar[r][i] = 0.25; /* the input cotangent accumulates */
        pf_cnn_forward(&net[r], theta, tape[r], MB, x, y[r]);
        pf_cnn_backward(&net[r], theta, tape[r], MB, ybar, grad[r], xbar[r]);
    }
    for (int b = 0; b < MB; b++)
        for (int s = 0; s < MV; s++)
            for (int o = 0; o < cout; o++) {
                const size_t i = ((size_t)b * MV + s) * cout + o;
                if (listed[s])
                    cr_assert_float_eq(y[1][i], y[0][i], 1e-13 * (1 + fabs(y[0][i])),
                                       "site %d: %g, full network %g", s, y[1][i], y[0][i]);
                else
                    cr_assert_eq(y[1][i], 0.0, "unlisted site %d: %g", s, y[1][i]);
            }
    double eg = pft_rel_err(np, grad[1], grad[0], 1e-12);
    double ex = pft_rel_err(nx, xbar[1], xbar[0], 1e-12);
    cr_assert_lt(eg, 1e-12, "%d sites, route %d: parameter gradients differ by %g", n, direct_max,
                 eg);
    cr_assert_lt(ex, 1e-12, "%d sites, route %d: input cotangents differ by %g", n, direct_max, ex);
    for (int r = 0; r < 2; r++) {
        free(y[r]); free(grad[r]); free(xbar[r]);
        pf_cnn_tape_destroy(tape[r]);
    }
    free(theta); free(x); free(ybar); free(listed);
}

Test(conv2d, outputs_at_listed_sites_equal_the_full_network)
{
    /* 4×6: a checkerboard (12 sites, site by site) and 16 sites (two blocks
     * of 8); 5×3: 7 sites. Last layers 8 → 3 (dot form), 3 → 8 (axpy), one
     * layer 2 → 2 (the last is the first: the input cotangent accumulates),
     * 16 → 2, and a 20-channel hidden layer (im2col + GEMM). */
    int checker[12], sixteen[16], seven[7] = {0, 2, 3, 7, 8, 12, 14};
    for (int i = 0, k = 0; i < 24; i++)
        if ((i / 6 + i % 6) % 2 == 0)
            checker[k++] = i;
    for (int i = 0, k = 0; i < 24; i++)
        if (i % 3 != 1)
            sixteen[k++] = i;
    const int h8[1] = {8}, h3[1] = {3}, h16[2] = {8, 16}, h20[1] = {20};
    for (int route = 0; route < 2; route++) {
        const int dm = ROUTES[route];
        compare_output_sites(4, 6, 1, h8, 3, 12, checker, dm, 10u);
        compare_output_sites(4, 6, 1, h8, 3, 16, sixteen, dm, 20u);
        compare_output_sites(4, 6, 1, h3, 8, 16, sixteen, dm, 30u);
        compare_output_sites(4, 6, 0, NULL, 2, 12, checker, dm, 40u);
        compare_output_sites(4, 6, 2, h16, 2, 16, sixteen, dm, 50u);
        compare_output_sites(5, 3, 1, h8, 3, 7, seven, dm, 60u);
        compare_output_sites(4, 6, 1, h20, 3, 16, sixteen, dm, 70u);
    }
}

Test(conv2d, output_sites_out_of_order_or_range_are_refused)
{
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, 4, 4, 2, 0, NULL, 3, 3, PF_ACT_TANH), PF_OK);
    const int repeated[3] = {1, 1, 2}, outside[2] = {3, 16};
    cr_assert_eq(pf_cnn_set_output_sites(&cnn, 3, repeated), PF_ERR_ARG);
    cr_assert_eq(pf_cnn_set_output_sites(&cnn, 2, outside), PF_ERR_ARG);
    cr_assert_eq(pf_cnn_set_output_sites(&cnn, 0, outside), PF_ERR_ARG);
}

/* The chunked passes (every layer direct): y, x̄ and θ̄ are the same bits for
 * every chunk size, down to the smallest (one block of the weight gradient's
 * sites), on a batch that chunks do not divide; with listed output sites (5×3,
 * 7 sites: a chunk must hold 32 rows) and without, for an activation computed
 * in place (leaky relu, tanh) and one that keeps z (softplus), and for a last
 * layer of 5 inputs and of 16 (the narrow-output weight gradient). */
static void compare_chunks(int L0_, int L1_, int n_sites, const int *sites, pf_activation act,
                           const int hidden[2], unsigned seed)
{
    enum { BB = 75 };
    const int Vn = L0_ * L1_;
    pf_cnn cnn;
    cr_assert_eq(pf_cnn_init(&cnn, L0_, L1_, 2, 2, hidden, 3, 3, act), PF_OK);
    if (sites)
        cr_assert_eq(pf_cnn_set_output_sites(&cnn, n_sites, sites), PF_OK);
    double *theta = malloc(cnn.n_params * sizeof *theta), *x = malloc(BB * Vn * 2 * sizeof *x),
           *ybar = malloc(BB * Vn * 3 * sizeof *ybar);
    pft_fill_normal(seed, cnn.n_params, theta, 0.6);
    pft_fill_normal(seed + 1, BB * Vn * 2, x, 1.0);
    pft_fill_normal(seed + 2, BB * Vn * 3, ybar, 1.0);
    const int asks[3] = {1000, 1, 40}; /* the whole batch, the smallest chunk, another */
    double *y[3], *grad[3], *xbar[3];
    int rows[3];
    for (int k = 0; k < 3; k++) {
        pf_cnn_tape *tape;
        cr_assert_eq(pf_cnn_tape_create(&cnn, BB, &tape), PF_OK);
        rows[k] = pf_cnn_tape_set_chunk(tape, &cnn, asks[k]);
        y[k] = malloc(BB * Vn * 3 * sizeof *y[k]);
        grad[k] = calloc(cnn.n_params, sizeof *grad[k]);
        xbar[k] = calloc(BB * Vn * 2, sizeof *xbar[k]);
        pf_cnn_forward(&cnn, theta, tape, BB, x, y[k]);
        pf_cnn_backward(&cnn, theta, tape, BB, ybar, grad[k], xbar[k]);
        pf_cnn_tape_destroy(tape);
    }
    cr_assert_eq(rows[0], BB);
    cr_assert_lt(rows[1], BB / 2, "the smallest chunk has %d rows", rows[1]);
    for (int k = 1; k < 3; k++) {
        cr_assert(memcmp(y[k], y[0], BB * Vn * 3 * sizeof *y[0]) == 0, "y, chunks of %d rows",
                  rows[k]);
        cr_assert(memcmp(grad[k], grad[0], cnn.n_params * sizeof *grad[0]) == 0,
                  "θ̄, chunks of %d rows (%s)", rows[k], pf_activation_name(act));
        cr_assert(memcmp(xbar[k], xbar[0], BB * Vn * 2 * sizeof *xbar[0]) == 0,
                  "x̄, chunks of %d rows", rows[k]);
    }
    cr_assert_gt(pft_max_abs(cnn.n_params, grad[0]), 0.0);
    for (int k = 0; k < 3; k++) {
        free(y[k]); free(grad[k]); free(xbar[k]);
    }
    free(theta); free(x); free(ybar);
}

Test(conv2d, chunked_passes_give_the_same_bits_for_every_chunk_size)
{
    int checker[12], seven[7] = {0, 2, 3, 7, 8, 12, 14};
    for (int i = 0, k = 0; i < 24; i++)
        if ((i / 6 + i % 6) % 2 == 0)
            checker[k++] = i;
    const pf_activation acts[3] = {PF_ACT_LEAKY_RELU, PF_ACT_TANH, PF_ACT_SOFTPLUS};
    const int hidden[2][2] = {{16, 5}, {5, 16}};
    for (int h = 0; h < 2; h++)
        for (int a = 0; a < 3; a++) {
            const unsigned seed = 100u * (unsigned)h + 10u * (unsigned)a;
            compare_chunks(4, 6, 0, NULL, acts[a], hidden[h], 1000u + seed);
            compare_chunks(4, 6, 12, checker, acts[a], hidden[h], 2000u + seed);
            compare_chunks(5, 3, 7, seven, acts[a], hidden[h], 3000u + seed);
        }
}
