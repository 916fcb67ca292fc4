/* Targets: unnormalised densities p(x) ∝ exp(−S(x)) on R^d (or on the torus
 * for U(1) link angles), with the action S, the force ∇S, optional exact
 * samplers and observables. docs/theory.md §5.
 *
 * Batches are row-major B×d arrays of doubles. A pf_target is immutable after
 * creation except for an internal scratch buffer that grows with the largest
 * batch seen, so one handle must not be used by two threads at once; distinct
 * handles are independent. The caller owns what it creates and destroys it. */
#ifndef PATHFLOW_TARGET_H
#define PATHFLOW_TARGET_H

#include <pathflow/pathflow.h>
#include <pathflow/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_target pf_target;

/* ---- user callbacks (embedding your own physics) ----------------------
 * x is B×d, S is B, force is B×d (force = ∇S, the gradient of the action).
 * Return 0 on success, a positive value for a recoverable failure (e.g. a
 * configuration outside the physical domain) and a negative one for a fatal
 * failure; pathflow turns either into PF_ERR_CALLBACK with the value in the
 * message. */
typedef int (*pf_action_fn)(void *user, int B, const double *x, double *S);
typedef int (*pf_force_fn)(void *user, int B, const double *x, double *force);

/* A target from callbacks. `force` may be NULL only if no gradient of the
 * target is ever needed (then pf_target_force returns PF_ERR_UNSUPPORTED).
 * `user` is passed through untouched and stays owned by the caller. */
pf_status pf_target_custom_create(int dim, pf_action_fn action, pf_force_fn force,
                                  void *user, pf_target **out);

/* ---- built-in targets --------------------------------------------------- */

/* Gaussian mixture p(x) = Σ_c w_c N(x; μ_c, Σ_c), normalised, so S = −log p
 * exactly and log Z = 0. d ≤ 64. weights: C (positive, normalised internally),
 * means: C×d, covariances: C×d×d symmetric positive definite (copied). */
pf_status pf_target_gmm_create(int d, int n_components, const double *weights,
                               const double *means, const double *covariances,
                               pf_target **out);

/* The paper's "MGM": 2^d components at the corners {−loc, +loc}^d, each with
 * covariance scale·I (scale is a variance), equal weights. Evaluated as a
 * product of d one-dimensional two-component mixtures (exact for equal
 * weights), so any d is cheap: 1 ≤ d ≤ 100000. The same mixture written out
 * with pf_target_gmm_create gives the same S and force (tested). */
pf_status pf_target_mgm_create(int d, double loc, double scale, pf_target **out);

/* φ⁴ on a periodic L0×L1 lattice, hopping form (site index x0*L1 + x1):
 * S(φ) = Σₓ [ −2κ Σ_μ φₓ φ_{x+μ̂} + (1 − 2λ) φₓ² + λ φₓ⁴ ]. */
pf_status pf_target_phi4_create(int L0, int L1, double kappa, double lambda,
                                pf_target **out);

/* φ⁴ in the (m², λ) form of other lattice codes, on the field ϕ = √(2κ) φ:
 * S(ϕ) = Σₓ [ −Σ_μ ϕₓ ϕ_{x+μ̂} + (2 + m²/2) ϕₓ² + λ ϕₓ⁴ ]. */
pf_status pf_target_phi4_mass_create(int L0, int L1, double m2, double lambda,
                                     pf_target **out);

/* The hopping parameters (κ, λ_h) of the mass-form action (m², λ):
 * S_mass(ϕ) = S_hop(ϕ/√(2κ)) for every field. Requires 4 + m² > 0, λ ≥ 0. */
pf_status pf_phi4_hopping_from_mass(double m2, double lambda, double *kappa,
                                    double *lambda_hop);

/* 2-D U(1) gauge theory, Wilson action S = −β Σₓ cos P(x) on link angles.
 * Layout of one configuration (d = 2·L0·L1): θ_μ(x) at μ·V + x0·L1 + x1,
 * V = L0·L1; P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x). */
pf_status pf_target_u1_create(int L0, int L1, double beta, pf_target **out);

void pf_target_destroy(pf_target *target);

/* ---- queries ------------------------------------------------------------ */

int pf_target_dim(const pf_target *target);
const char *pf_target_kind(const pf_target *target); /* "gmm", "phi4", "u1", "custom" */

/* Lattice shape: (d) for gmm/custom, (L0, L1) for φ⁴, (2, L0, L1) for U(1).
 * shape must hold 4 ints; returns the number of dimensions. */
int pf_target_shape(const pf_target *target, int shape[4]);

/* ---- evaluation on batches ----------------------------------------------
 * A NULL target, B < 1 or a NULL array gives PF_ERR_ARG with a message naming
 * the argument and the target kind. Outputs are not checked for finiteness
 * (the trainer detects non-finite losses and gradients). No call allocates
 * once the scratch buffer has grown to the largest batch. */

/* x: B×d → S: B. */
pf_status pf_target_action(pf_target *target, int B, const double *x, double *S);

/* x: B×d → force: B×d, force = ∇ₓS (the score of p is −force). */
pf_status pf_target_force(pf_target *target, int B, const double *x, double *force);

/* Exact i.i.d. samples x: B×d when the target has a sampler (gmm), drawn from
 * the cursors of `rng`; PF_ERR_UNSUPPORTED otherwise. */
int pf_target_has_sampler(const pf_target *target);
pf_status pf_target_sample(pf_target *target, pf_rng *rng, int B, double *x);

/* log Z with p(x) = exp(−S(x))/Z, when known exactly (gmm: 0);
 * PF_ERR_UNSUPPORTED otherwise. */
pf_status pf_target_log_z(const pf_target *target, double *log_z);

/* ---- observables -------------------------------------------------------- */

/* Per-sample observables, obs: B×n (n = pf_target_n_observables):
 * gmm/custom: the coordinates x_i;
 * φ⁴: M, |M|, M², then G(t) = (1/V) Σ_{y0} Σ_{y1,z1} φ_{y0,y1} φ_{y0+t,z1}, t = 0..L0−1;
 * U(1): mean cos P, topological charge Q = (1/2π) Σ wrap(P). */
int pf_target_n_observables(const pf_target *target);
const char *pf_target_observable_name(const pf_target *target, int i);
pf_status pf_target_observables(pf_target *target, int B, const double *x, double *obs);

/* Ensemble estimates from a batch with self-normalised importance weights
 * exp(log_w) (log_w NULL: equal weights; computed with the largest log_w
 * subtracted, so a constant shift of log_w changes nothing; an entry −∞ is a
 * zero weight, NaN or +∞ gives PF_ERR_NUMERIC naming the entry),
 * values: n = pf_target_n_summaries:
 * gmm/custom: the mean of each coordinate;
 * φ⁴: ⟨M⟩, ⟨|M|⟩, χ = V(⟨M²⟩ − ⟨|M|⟩²), then G_c(t) = ⟨G(t)⟩ − L1·⟨M⟩², t = 0..L0−1;
 * U(1): ⟨cos P⟩, ⟨Q⟩, χ_t = (⟨Q²⟩ − ⟨Q⟩²)/V. */
int pf_target_n_summaries(const pf_target *target);
const char *pf_target_summary_name(const pf_target *target, int i);
pf_status pf_target_summaries(pf_target *target, int B, const double *x,
                              const double *log_w, double *values);

/* ---- Hybrid Monte Carlo -------------------------------------------------
 * Reference samples for targets without an exact sampler (φ⁴, U(1), custom):
 * leapfrog trajectories with unit-mass momenta and a Metropolis test on
 * exp(−ΔH). Draws use streams (seed, trajectory), so a chain is reproducible.
 * U(1) samples are wrapped into [0, 2π). */
typedef struct pf_hmc_options {
    int n_samples;      /* samples written */
    int thermalize;     /* trajectories discarded first */
    int thin;           /* trajectories between samples (≥ 1) */
    int n_leapfrog;     /* leapfrog steps per trajectory */
    double step_size;   /* leapfrog step */
    unsigned long long seed;
} pf_hmc_options;

pf_hmc_options pf_hmc_options_default(void);

/* x0: starting configuration (d) or NULL (all zero); out: n_samples×d;
 * *acceptance: the fraction of accepted trajectories (after thermalisation). */
pf_status pf_target_hmc(pf_target *target, const pf_hmc_options *options, const double *x0,
                        double *out, double *acceptance);

#ifdef __cplusplus
}
#endif

#endif
