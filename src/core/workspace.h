/* Internal: aligned buffers and a bump arena sized once and reused.
 * Hot loops take memory from an arena made at setup; nothing called per step
 * allocates. */
#ifndef PF_CORE_WORKSPACE_H
#define PF_CORE_WORKSPACE_H

#include <stddef.h>
#include <pathflow/pathflow.h>

#define PF_ALIGN 64

/* 64-byte aligned, zeroed allocation of n doubles (NULL on failure, with a
 * message naming `what`). Free with pf_free. */
double *pf_alloc_doubles(size_t n, const char *what);
void *pf_alloc_bytes(size_t bytes, const char *what);
void pf_free(void *p);

/* A bump arena: one aligned block; pf_arena_take hands out aligned slices. */
typedef struct pf_arena {
    double *base;
    size_t capacity; /* doubles */
    size_t used;     /* doubles */
} pf_arena;

pf_status pf_arena_init(pf_arena *arena, size_t n_doubles, const char *what);
/* A slice of n doubles aligned to PF_ALIGN, or NULL if the arena is full (a
 * sizing bug: the caller reports it). Contents are not cleared. */
double *pf_arena_take(pf_arena *arena, size_t n);
/* Doubles that pf_arena_take(n) consumes, for sizing an arena in advance. */
size_t pf_arena_cost(size_t n);
void pf_arena_reset(pf_arena *arena);
void pf_arena_free(pf_arena *arena);

#endif
