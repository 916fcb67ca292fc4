/* Internal: 64-bit FNV-1a, for checksums and settings identifiers (not for
 * security: it detects accidents, not attacks). */
#ifndef PF_CORE_HASH_H
#define PF_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PF_FNV1A_INIT 1469598103934665603ULL

/* Continues hash h over n bytes (start from PF_FNV1A_INIT). */
static inline uint64_t pf_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
