/* Tests for src/core/rng.c: reproducibility by index, documented layout, and
 * the distributions' moments within stated standard errors. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <Random123/philox.h>
#include <pathflow/rng.h>

#include "core/rng_unit.h"

#define N_DRAWS 4099 /* not a multiple of 4 or 256, to cross block boundaries */

typedef void (*draw_at_fn)(const pf_rng *, uint64_t, size_t, double *);

static void check_order_independence(draw_at_fn draw, const char *what)
{
    pf_rng rng = pf_rng_make(12345, 7);
    double *all = malloc(N_DRAWS * sizeof *all), *one = malloc(N_DRAWS * sizeof *one);
    draw(&rng, 0, N_DRAWS, all);
    /* Draw every index alone, in a scrambled order (a permutation by a stride
     * coprime to N_DRAWS), then in odd-sized chunks from the end. */
    for (size_t k = 0; k < N_DRAWS; k++) {
        size_t i = (k * 1013) % N_DRAWS;
        draw(&rng, i, 1, one + i);
    }
    cr_assert(memcmp(all, one, N_DRAWS * sizeof *all) == 0,
              "%s: draws taken one by one in scrambled order differ", what);
    memset(one, 0, N_DRAWS * sizeof *one);
    for (size_t end = N_DRAWS; end > 0;) {
        size_t len = end >= 37 ? 37 : end;
        draw(&rng, end - len, len, one + end - len);
        end -= len;
    }
    cr_assert(memcmp(all, one, N_DRAWS * sizeof *all) == 0,
              "%s: draws taken in chunks from the end differ", what);
    free(all);
    free(one);
}

Test(rng, same_index_gives_same_number_whatever_the_order_of_draws)
{
    check_order_independence(pf_rng_uniform_at, "uniform");
    check_order_independence(pf_rng_normal_at, "normal");
    check_order_independence(pf_rng_rademacher_at, "rademacher");
}

Test(rng, cursor_draws_equal_indexed_draws)
{
    pf_rng cursor = pf_rng_make(99, 3);
    double a[300], b[300];
    pf_rng_normal(&cursor, 100, a);
    pf_rng_normal(&cursor, 200, a + 100);
    pf_rng_normal_at(&cursor, 0, 300, b);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    cr_assert_eq(cursor.next_normal, 300);
    cr_assert_eq(cursor.next_uniform, 0, "normal draws must not move the uniform cursor");
}

Test(rng, uniform_draw_n_is_word_n_mod_4_of_philox_block_n_div_4)
{
    /* The layout is part of the reproducibility contract (results must not
     * change between versions): recompute draw n straight from Philox. */
    pf_rng rng = pf_rng_make(2024, 11);
    double u[9];
    pf_rng_uniform_at(&rng, 5, 9, u);
    for (uint64_t n = 5; n < 14; n++) {
        philox4x64_ctr_t ctr = {{n / 4, 1, 0, 0}};
        philox4x64_key_t key = {{2024, 11}};
        philox4x64_ctr_t r = philox4x64(ctr, key);
        double expected = ((double)(r.v[n % 4] >> 11) + 0.5) * 0x1.0p-53;
        cr_assert_eq(u[n - 5], expected, "draw %lu", (unsigned long)n);
    }
}

Test(rng, streams_and_seeds_are_distinct)
{
    double a[64], b[64], c[64];
    pf_rng s1 = pf_rng_make(1, 0), s2 = pf_rng_make(1, 1), s3 = pf_rng_make(2, 0);
    pf_rng_uniform_at(&s1, 0, 64, a);
    pf_rng_uniform_at(&s2, 0, 64, b);
    pf_rng_uniform_at(&s3, 0, 64, c);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 64; i++) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    cr_assert_eq(same_ab + same_ac, 0);
}

/* Sample mean of f(x_i) and its standard error. */
static void mean_and_se(size_t n, const double *x, double power, double *mean, double *se)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = pow(x[i], power);
        s += v;
        s2 += v * v;
    }
    *mean = s / (double)n;
    *se = sqrt((s2 / (double)n - *mean * *mean) / (double)n);
}

#define N_STAT 200000

Test(rng, uniform_moments_match_within_5_standard_errors)
{
    double *u = malloc(N_STAT * sizeof *u), m, se;
    pf_rng rng = pf_rng_make(5, 5);
    pf_rng_uniform(&rng, N_STAT, u);
    for (size_t i = 0; i < N_STAT; i++)
        cr_assert(u[i] > 0.0 && u[i] < 1.0, "uniform draw %zu = %g outside (0,1)", i, u[i]);
    const double moments[3] = {1.0 / 2, 1.0 / 3, 1.0 / 4};
    for (int p = 1; p <= 3; p++) {
        mean_and_se(N_STAT, u, p, &m, &se);
        cr_assert_lt(fabs(m - moments[p - 1]), 5 * se, "E[u^%d] = %g ± %g, expected %g", p, m,
                     se, moments[p - 1]);
    }
    free(u);
}

Test(rng, normal_moments_match_within_5_standard_errors)
{
    double *z = malloc(N_STAT * sizeof *z), m, se;
    pf_rng rng = pf_rng_make(6, 0);
    pf_rng_normal(&rng, N_STAT, z);
    const double moments[4] = {0, 1, 0, 3};
    for (int p = 1; p <= 4; p++) {
        mean_and_se(N_STAT, z, p, &m, &se);
        cr_assert_lt(fabs(m - moments[p - 1]), 5 * se, "E[z^%d] = %g ± %g, expected %g", p, m,
                     se, moments[p - 1]);
    }
    /* The two members of each Box–Muller pair are uncorrelated. */
    double s = 0, s2 = 0;
    for (size_t i = 0; i + 1 < N_STAT; i += 2) {
        s += z[i] * z[i + 1];
        s2 += z[i] * z[i] * z[i + 1] * z[i + 1];
    }
    double n = N_STAT / 2, cm = s / n, cse = sqrt((s2 / n - cm * cm) / n);
    cr_assert_lt(fabs(cm), 5 * cse, "pair correlation %g ± %g", cm, cse);
    free(z);
}

Test(rng, rademacher_draws_are_plus_or_minus_one_with_equal_probability)
{
    double *r = malloc(N_STAT * sizeof *r), m, se;
    pf_rng rng = pf_rng_make(7, 1);
    pf_rng_rademacher(&rng, N_STAT, r);
    for (size_t i = 0; i < N_STAT; i++)
        cr_assert(r[i] == 1.0 || r[i] == -1.0);
    mean_and_se(N_STAT, r, 1, &m, &se);
    cr_assert_lt(fabs(m), 5 * se, "mean %g ± %g", m, se);
    /* neighbouring bits uncorrelated */
    double c = 0;
    for (size_t i = 0; i + 1 < N_STAT; i++)
        c += r[i] * r[i + 1];
    c /= N_STAT - 1;
    cr_assert_lt(fabs(c), 5 / sqrt(N_STAT - 1.0), "lag-1 correlation %g", c);
    free(r);
}

Test(rng, uniform_and_normal_domains_are_independent)
{
    double *u = malloc(N_STAT * sizeof *u), *z = malloc(N_STAT * sizeof *z);
    pf_rng rng = pf_rng_make(8, 2);
    pf_rng_uniform(&rng, N_STAT, u);
    pf_rng_normal(&rng, N_STAT, z);
    double c = 0;
    for (size_t i = 0; i < N_STAT; i++)
        c += (u[i] - 0.5) * z[i];
    c /= N_STAT;
    double se = sqrt(1.0 / 12 / N_STAT);
    cr_assert_lt(fabs(c), 5 * se, "cov(u, z) = %g, se %g", c, se);
    free(u);
    free(z);
}

/* The open interval at both ends: the smallest and largest 53-bit words (the
 * largest one's midpoint 1 − 2⁻⁵⁴ would round to 1), and every other word
 * maps to its exact midpoint (w + ½)·2⁻⁵³ (checked around both ends and at
 * the powers of two, where the spacing of doubles changes). */
Test(rng, unit_map_stays_inside_the_open_interval)
{
    cr_assert_eq(pf_unit_from_word(0), 0x1.0p-54);
    cr_assert_eq(pf_unit_from_word(UINT64_MAX), 0x1.fffffffffffffp-1);
    cr_assert_lt(pf_unit_from_word(UINT64_MAX), 1.0);
    cr_assert_eq(pf_unit_from_word(UINT64_MAX - (UINT64_C(1) << 11)), 1.0 - 3 * 0x1.0p-54);
    for (int e = 0; e < 53; e++)
        for (int d = -1; d <= 1; d++) {
            const uint64_t w53 = (UINT64_C(1) << e) + (uint64_t)d;
            if (w53 >= (UINT64_C(1) << 53) - 1 || (e == 0 && d < 0))
                continue;
            const long double exact = ((long double)w53 + 0.5L) / 9007199254740992.0L;
            const double u = pf_unit_from_word(w53 << 11);
            cr_assert(u > 0 && u < 1, "word %llu", (unsigned long long)w53);
            cr_assert_leq(fabsl((long double)u - exact), exact * 0x1.0p-53L,
                          "word %llu: %.17g", (unsigned long long)w53, u);
        }
}
