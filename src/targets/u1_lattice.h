/* Internal: U(1) lattice helpers shared by the target (u1.c) and the gauge-
 * equivariant flow. Links θ_μ(x) at μ·V + x0·L1 + x1, V = L0·L1; 0̂ shifts x0,
 * 1̂ shifts x1, periodic. No argument checks: callers pass L0, L1 ≥ 1 and
 * arrays of the stated sizes. */
#ifndef PF_TARGETS_U1_LATTICE_H
#define PF_TARGETS_U1_LATTICE_H

/* P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x). links: 2V → P: V (not wrapped). */
void pf_u1_plaquettes(int L0, int L1, const double *links, double *P);

/* Gauge transformation θ_μ(x) → α(x) + θ_μ(x) − α(x+μ̂), which leaves every
 * plaquette unchanged. alpha: V, links: 2V → out: 2V (out may alias links). */
void pf_u1_gauge_transform(int L0, int L1, const double *alpha, const double *links, double *out);

/* x wrapped into (−π, π]. */
double pf_u1_wrap(double x);

#endif
