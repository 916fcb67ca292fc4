/* Counter-based streams on Random123 Philox4x64-10.
 *
 * Key = (seed, stream). Counter = (block, domain, 0, 0); one block yields four
 * 64-bit words. Uniform draw n is word n%4 of block n/4 (domain 1); normal
 * draws n, n+1 (n even) are the Box–Muller pair from words 2(n%4/2), +1 of
 * block n/4 (domain 2); Rademacher draw n is bit n%64 of word (n/64)%4 of
 * block n/256 (domain 3). So every draw is a pure function of (seed, stream, n). */
#include <pathflow/rng.h>

#include <math.h>

#include <Random123/philox.h>

#include "core/rng_unit.h"

enum { DOMAIN_UNIFORM = 1, DOMAIN_NORMAL = 2, DOMAIN_RADEMACHER = 3 };

static philox4x64_ctr_t block(const pf_rng *rng, uint64_t index, uint64_t domain)
{
    philox4x64_ctr_t ctr = {{index, domain, 0, 0}};
    philox4x64_key_t key = {{rng->seed, rng->stream}};
    return philox4x64(ctr, key);
}

static double to_open_unit(uint64_t word) { return pf_unit_from_word(word); }

pf_rng pf_rng_make(uint64_t seed, uint64_t stream)
{
    pf_rng rng = {seed, stream, 0, 0, 0};
    return rng;
}

void pf_rng_uniform_at(const pf_rng *rng, uint64_t first, size_t n, double *out)
{
    size_t i = 0;
    while (i < n) {
        uint64_t index = first + i;
        philox4x64_ctr_t r = block(rng, index / 4, DOMAIN_UNIFORM);
        for (unsigned slot = (unsigned)(index % 4); slot < 4 && i < n; slot++, i++)
            out[i] = to_open_unit(r.v[slot]);
    }
}

void pf_rng_normal_at(const pf_rng *rng, uint64_t first, size_t n, double *out)
{
    const double two_pi = 6.283185307179586476925286766559;
    size_t i = 0;
    while (i < n) {
        uint64_t index = first + i;
        philox4x64_ctr_t r = block(rng, index / 4, DOMAIN_NORMAL);
        /* each pair once: one log and one sin-cos (GCC fuses them) for both */
        for (unsigned slot = (unsigned)(index % 4); slot < 4 && i < n;) {
            unsigned pair = slot / 2;
            double radius = sqrt(-2.0 * log(to_open_unit(r.v[2 * pair])));
            double angle = two_pi * to_open_unit(r.v[2 * pair + 1]);
            double c = cos(angle), s = sin(angle);
            if (slot % 2 == 0) {
                out[i++] = radius * c;
                slot++;
            }
            if (i < n) {
                out[i++] = radius * s;
                slot++;
            }
        }
    }
}

void pf_rng_rademacher_at(const pf_rng *rng, uint64_t first, size_t n, double *out)
{
    size_t i = 0;
    while (i < n) {
        uint64_t index = first + i;
        philox4x64_ctr_t r = block(rng, index / 256, DOMAIN_RADEMACHER);
        for (unsigned bit = (unsigned)(index % 256); bit < 256 && i < n; bit++, i++)
            out[i] = ((r.v[bit / 64] >> (bit % 64)) & 1u) ? 1.0 : -1.0;
    }
}

void pf_rng_uniform(pf_rng *rng, size_t n, double *out)
{
    pf_rng_uniform_at(rng, rng->next_uniform, n, out);
    rng->next_uniform += n;
}

void pf_rng_normal(pf_rng *rng, size_t n, double *out)
{
    pf_rng_normal_at(rng, rng->next_normal, n, out);
    rng->next_normal += n;
}

void pf_rng_rademacher(pf_rng *rng, size_t n, double *out)
{
    pf_rng_rademacher_at(rng, rng->next_rademacher, n, out);
    rng->next_rademacher += n;
}
