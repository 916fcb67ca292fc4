/* Flows: the one interface behind which coupling chains and CNFs sit.
 * docs/theory.md §4 (the score recursion) and §7 (continuous flows).
 *
 * A flow T_θ maps base samples z ~ q₀ to x = T_θ(z). All operations act on a
 * batch of B samples, row-major B×d. The flow owns its parameter vector θ (one
 * contiguous array) and a *tape*: the memory of its last pass (forward or
 * inverse), sized once by pf_flow_reserve and reused; no operation allocates.
 * A flow handle must not be used by two threads at once. */
#ifndef PATHFLOW_FLOW_H
#define PATHFLOW_FLOW_H

#include <stddef.h>

#include <pathflow/pathflow.h>
#include <pathflow/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_flow pf_flow;

typedef enum pf_base_kind {
    PF_BASE_NORMAL = 0, /* q₀ = N(0, I), score −z */
    PF_BASE_UNIFORM,    /* q₀ uniform on [0, 2π)^d (U(1) links), score 0 */
    PF_BASE_Z2_MIXTURE  /* q₀ = ½N(m·1, I) + ½N(−m·1, I), m = the flow's base shift:
                           log q₀ = −|z|²/2 − d m²/2 − (d/2) log 2π + log cosh(m Σᵢzᵢ),
                           score −z + m tanh(m Σᵢzᵢ)·1. Symmetric under z → −z and
                           bimodal along the constant mode: with Z₂-equivariant
                           couplings each base mode can become one vacuum of a
                           broken phase without the flow tearing one mode in two. */
} pf_base_kind;

/* ---- RealNVP: a chain of affine coupling layers (docs/theory.md §4.1, §4.2) -------- */

typedef enum pf_mask_kind {
    PF_MASK_HALVES = 0, /* first half / second half, swapped every layer */
    PF_MASK_EVEN_ODD,   /* even / odd coordinates, swapped every layer */
    PF_MASK_CHECKERBOARD /* (x0 + x1) even / odd on an L0×L1 lattice, swapped every layer */
} pf_mask_kind;

/* What computes a coupling's (s, t) from its frozen part. */
typedef enum pf_conditioner_kind {
    PF_CONDITIONER_DENSE = 0, /* an MLP on the frozen coordinates */
    PF_CONDITIONER_CONV       /* a periodic CNN on the lattice field, transformed sites 0
                                 (needs PF_MASK_CHECKERBOARD) */
} pf_conditioner_kind;

typedef enum pf_symmetry_kind {
    PF_SYMMETRY_NONE = 0,
    PF_SYMMETRY_Z2 /* s even, t odd in the frozen field: T(−z) = −T(z), q(−x) = q(x) */
} pf_symmetry_kind;

typedef struct pf_realnvp_options {
    int dim;                  /* d */
    int n_layers;             /* coupling layers */
    int n_hidden;             /* hidden layers of each conditioner MLP */
    int hidden[16];           /* their widths */
    const char *activation;   /* "tanh", "softplus", "relu", "leaky_relu", "identity" */
    pf_mask_kind mask;
    int lattice[2];           /* L0, L1 for PF_MASK_CHECKERBOARD (L0·L1 = dim) */
    pf_conditioner_kind conditioner; /* default dense */
    int kernel;               /* odd kernel size of a conv conditioner (default 3) */
    pf_symmetry_kind symmetry; /* default none */
    int zero_init;            /* last layer of every conditioner zero: the flow starts as identity */
    double init_scale;        /* multiplies the random initial weights (default 1) */
    unsigned long long seed;  /* parameter initialisation stream */
    pf_base_kind base;        /* PF_BASE_NORMAL (default) or PF_BASE_Z2_MIXTURE */
    double base_shift;        /* m of PF_BASE_Z2_MIXTURE, > 0 (default 1) */
} pf_realnvp_options;

pf_realnvp_options pf_realnvp_options_default(void);
pf_status pf_flow_realnvp_create(const pf_realnvp_options *options, pf_flow **out);

/* ---- U(1) gauge-equivariant couplings (docs/theory.md §6) --------------------------
 * Links θ_μ(x) at μ·V + x0·L1 + x1 as in pf_target_u1_create; base uniform on
 * [0, 2π)^{2V}. Layer i updates direction μ = i mod 2 at stripe offset
 * ⌊i/2⌋ mod 4 with a mixture of K tan transforms and a shift, conditioned by
 * a periodic CNN on (cos P, sin P) of the frozen plaquettes ((1, 0) at the
 * others). The inverse
 * finds each active plaquette by safeguarded Newton (bisection) to
 * `tolerance`; the forward score recursion needs no root finding. */
typedef struct pf_u1_flow_options {
    int L0, L1;             /* multiples of 4 */
    int n_layers;
    int n_hidden;           /* hidden conv layers of each conditioner */
    int hidden[8];          /* their channels */
    int kernel;             /* odd */
    int n_mixture;          /* K */
    const char *activation; /* conditioner hidden activation */
    double tolerance;       /* root finder: |h̄(P) − target| ≤ tolerance */
    int zero_init;          /* default 0: every conv layer random, weights and
                               biases uniform in ±init_scale/√fan_in */
    double init_scale;
    unsigned long long seed;
} pf_u1_flow_options;

pf_u1_flow_options pf_u1_flow_options_default(void);
pf_status pf_flow_u1_create(const pf_u1_flow_options *options, pf_flow **out);

/* Root-finder invocations (one per active plaquette solved) since creation:
 * 0 for flows that never invert numerically. */
long pf_flow_root_finder_calls(const pf_flow *flow);

/* ---- continuous normalizing flows on CVODES (docs/theory.md §7) ------------------- */

typedef struct pf_cnf_options {
    int dim;                 /* d */
    int n_hidden;            /* hidden layers of the vector field MLP on (x, t) */
    int hidden[16];
    const char *activation;  /* smooth ones: "tanh" or "softplus" (the divergence
                                gradients need second derivatives) */
    int zero_init;           /* last layer zero: f = 0, the flow starts as identity */
    double init_scale;
    unsigned long long seed; /* parameters and Hutchinson probes */
    double t1;               /* integration time T */
    double rtol, atol;       /* CVODES tolerances, for every solve */
    long max_steps;          /* per solve; exceeding it is a PF_ERR_SOLVER failure */
    int checkpoint_steps;    /* steps between adjoint checkpoints */
    int bdf;                 /* 0: Adams + fixed point (default), 1: BDF + Newton (GMRES) */
    int hutchinson;          /* 0: exact divergence, 1: Hutchinson (one probe per sample and solve) */
    /* The vector field: "mlp" (default: dense MLP on (x, t), the keys above)
     * or "lattice" (translation-equivariant on a periodic lattice, exact
     * divergence in O(V · features), parameters independent of the lattice
     * size; the keys below). */
    const char *field;
    int n_lattice;           /* lattice: number of extents (1..4); ∏ lattice = dim */
    int lattice[4];
    int features;            /* lattice: frequencies of the sine features, ≥ 0 */
    double frequency;        /* lattice: the largest feature frequency ω */
    int odd;                 /* lattice: 1: odd features only (f(−φ) = −f(φ)), 0: with cosines */
    int time_basis;          /* lattice: K functions of t (1, cos(πt/T), ..., cos((K−1)πt/T)) */
    double radius;           /* lattice: kernel on displacements |r| ≤ radius */
    int symmetric;           /* lattice: one weight per orbit of the lattice's rotations and
                                reflections (1) or per displacement (0) */
} pf_cnf_options;

pf_cnf_options pf_cnf_options_default(void);
pf_status pf_flow_cnf_create(const pf_cnf_options *options, pf_flow **out);
/* 1 if the flow's parameters do not depend on the lattice size (a CNF with
 * the lattice field): the same parameters define the flow on any lattice
 * with the same number of extents. 0 for every other flow. */
int pf_flow_size_independent(const pf_flow *flow);

/* Solver statistics of a CNF (NULL for other flows): cumulative counts over
 * every solve since creation or the last reset. */
typedef struct pf_ode_stats {
    long solves, steps, rhs_evals;             /* forward and inverse solves */
    long solves_b, steps_b, rhs_evals_b;       /* adjoint (backward) solves, RHS + quadrature */
    long checkpoints, failures;                /* checkpoints stored, error-test/convergence failures */
} pf_ode_stats;
const pf_ode_stats *pf_flow_ode_stats(const pf_flow *flow);
void pf_flow_ode_stats_reset(pf_flow *flow);

void pf_flow_destroy(pf_flow *flow);

/* ---- queries and parameters ---------------------------------------------- */

int pf_flow_dim(const pf_flow *flow);
const char *pf_flow_kind(const pf_flow *flow); /* "realnvp", "cnf", "u1" */
pf_base_kind pf_flow_base(const pf_flow *flow);
/* m of a PF_BASE_Z2_MIXTURE base (0 for the other bases). */
double pf_flow_base_shift(const pf_flow *flow);
size_t pf_flow_n_params(const pf_flow *flow);
/* The parameter vector θ (n_params doubles), owned by the flow; writable. */
double *pf_flow_params(pf_flow *flow);

/* Size the tape for batches of up to B_max samples (allocates; call before
 * the hot loop). Operations on larger batches return PF_ERR_ARG. */
pf_status pf_flow_reserve(pf_flow *flow, int B_max);

/* ---- the base distribution q₀ -------------------------------------------- */

/* z: B×d from the normal (or uniform) cursor of rng. */
void pf_flow_sample_base(const pf_flow *flow, pf_rng *rng, int B, double *z);

/* ---- noise inside a pass ---------------------------------------------------
 * A flow that draws random numbers inside its passes (a CNF with Hutchinson's
 * divergence estimator) draws them, after this call, for row i of a batch as
 * row first_row + i of noise stream `key`, in every pass until the next call.
 * The trainer calls it with the step (and the rank's first row of the global
 * batch), so that a resumed or multi-process run draws exactly what one
 * uninterrupted process would. Without a call, every pass draws fresh noise
 * from a counter of passes. Flows without inner noise ignore it. */
void pf_flow_set_noise(pf_flow *flow, uint64_t key, uint64_t first_row);
/* log q₀(z): B, and (if score != NULL) ∇ log q₀(z): B×d. */
void pf_flow_base_log_prob(const pf_flow *flow, int B, const double *z, double *log_q0,
                           double *score);

/* ---- the three operations ------------------------------------------------- */

/* Sampling direction. z: B×d → x: B×d, ldj: B (log|det ∂x/∂z|).
 * If score_in (B×d, ∇ log q₀ at z) is given, score_out (B×d) receives the
 * score of q_θ at x by the forward recursion (docs/theory.md §4 (R), §7). */
pf_status pf_flow_forward(pf_flow *flow, int B, const double *z, double *x, double *ldj,
                          const double *score_in, double *score_out);

/* Density direction. x: B×d → z: B×d, ldj_inv: B (log|det ∂z/∂x|).
 * If score_in (B×d, a score at x, e.g. −∇S(x)) is given, score_out (B×d)
 * receives the pullback score at z (docs/theory.md §3, §4.2). */
pf_status pf_flow_inverse(pf_flow *flow, int B, const double *x, double *z, double *ldj_inv,
                          const double *score_in, double *score_out);

/* One vector–Jacobian product of the last forward or inverse pass. Given
 * cotangents out_bar (B×d) of its output and ldj_bar (B, or NULL = 0) of its
 * log-determinant, accumulates grad += ∂/∂θ (n_params; NULL to skip the
 * parameter gradient) and in_bar += ∂/∂input (B×d; NULL to skip) of
 * Σ out_bar·output + Σ ldj_bar·ldj. */
pf_status pf_flow_backward(pf_flow *flow, int B, const double *out_bar, const double *ldj_bar,
                           double *grad, double *in_bar);

/* ---- persistence ----------------------------------------------------------- */

/* How to rebuild the flow: a short text ("realnvp dim=6 layers=4 ...") stored
 * in checkpoints so that a checkpoint names the architecture it holds. */
const char *pf_flow_describe(const pf_flow *flow);

#ifdef __cplusplus
}
#endif

#endif
