/* Counter-based random streams (Random123 Philox4x64-10).
 *
 * A stream is identified by (seed, stream). Draw n of a stream depends only on
 * (seed, stream, n), never on what was drawn before: results are identical
 * whatever the order of draws, the thread count or the MPI decomposition.
 * Uniform, normal and Rademacher draws use separate counter domains, so the
 * n-th normal and the n-th uniform of one stream are independent. */
#ifndef PATHFLOW_RNG_H
#define PATHFLOW_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A value type: copy it freely. `next` is the index of the next draw taken by
 * the cursor functions (pf_rng_uniform, ...); the *_at functions ignore it. */
typedef struct pf_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t next_uniform;
    uint64_t next_normal;
    uint64_t next_rademacher;
} pf_rng;

/* Stream `stream` of `seed`, positioned at draw 0 in every domain. */
pf_rng pf_rng_make(uint64_t seed, uint64_t stream);

/* Draws first .. first+n-1 of the stream, pure functions of their arguments.
 * uniform: in the open interval (0, 1), 53 random bits.
 * normal: standard normal (Box–Muller on pairs of uniforms).
 * rademacher: +1 or -1 with probability 1/2 each. */
void pf_rng_uniform_at(const pf_rng *rng, uint64_t first, size_t n, double *out);
void pf_rng_normal_at(const pf_rng *rng, uint64_t first, size_t n, double *out);
void pf_rng_rademacher_at(const pf_rng *rng, uint64_t first, size_t n, double *out);

/* Cursor versions: draw the next n of the domain and advance the cursor. */
void pf_rng_uniform(pf_rng *rng, size_t n, double *out);
void pf_rng_normal(pf_rng *rng, size_t n, double *out);
void pf_rng_rademacher(pf_rng *rng, size_t n, double *out);

#ifdef __cplusplus
}
#endif

#endif
