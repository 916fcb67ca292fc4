/* Aligned allocations and the bump arena. */
#include "core/workspace.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void *pf_alloc_bytes(size_t bytes, const char *what)
{
    size_t rounded = (bytes + PF_ALIGN - 1) / PF_ALIGN * PF_ALIGN;
    if (rounded == 0)
        rounded = PF_ALIGN;
    void *p = aligned_alloc(PF_ALIGN, rounded);
    if (!p) {
        pf_fail(PF_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, rounded);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

double *pf_alloc_doubles(size_t n, const char *what)
{
    if (n > SIZE_MAX / sizeof(double)) {
        pf_fail(PF_ERR_NOMEM, "%s: %zu doubles overflow size_t", what, n);
        return NULL;
    }
    return pf_alloc_bytes(n * sizeof(double), what);
}

void pf_free(void *p) { free(p); }

size_t pf_arena_cost(size_t n)
{
    const size_t per_line = PF_ALIGN / sizeof(double);
    return (n + per_line - 1) / per_line * per_line;
}

pf_status pf_arena_init(pf_arena *arena, size_t n_doubles, const char *what)
{
    arena->used = 0;
    arena->capacity = n_doubles;
    arena->base = pf_alloc_doubles(n_doubles, what);
    return arena->base ? PF_OK : PF_ERR_NOMEM;
}

double *pf_arena_take(pf_arena *arena, size_t n)
{
    size_t cost = pf_arena_cost(n);
    if (cost > arena->capacity - arena->used)
        return NULL;
    double *p = arena->base + arena->used;
    arena->used += cost;
    return p;
}

void pf_arena_reset(pf_arena *arena) { arena->used = 0; }

void pf_arena_free(pf_arena *arena)
{
    pf_free(arena->base);
    arena->base = NULL;
    arena->capacity = arena->used = 0;
}
