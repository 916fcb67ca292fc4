/* Internal: 64-bit FNV-1a, for checksums and settings identifiers (not for
 * security: it detects accidents, not attacks). */
#ifndef PF_CORE_HASH_H
#define PF_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The published FNV-1a 64-bit offset basis. */
#define PF_FNV1A_INIT 14695981039346656037ULL
/* The basis used by mistake before (its last digit lost): still the seed of
 * checkpoint versions 1 and 2 checksums and of the settings identifier
 * (kept so that runs written before can be resumed). */
#define PF_FNV1A_LEGACY_INIT 1469598103934665603ULL

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
