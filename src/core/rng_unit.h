/* Internal: the map from a 64-bit random word to a uniform double in the open
 * interval (0, 1), shared by src/core/rng.c and its tests. */
#ifndef PF_CORE_RNG_UNIT_H
#define PF_CORE_RNG_UNIT_H

#include <stdint.h>

/* The top 53 bits w give (w + ½)·2⁻⁵³: the midpoints of 2⁵³ equal cells, so
 * never 0. The last midpoint, 1 − 2⁻⁵⁴, is not a double and rounds (to even)
 * to 1 exactly; it is mapped to the largest double below 1 instead, so the
 * interval stays open (a word in 2⁵³ is affected; every other value is as
 * before). */
static inline double pf_unit_from_word(uint64_t word)
{
    const double u = ((double)(word >> 11) + 0.5) * 0x1.0p-53;
    return u < 1.0 ? u : 0x1.fffffffffffffp-1;
}

#endif
