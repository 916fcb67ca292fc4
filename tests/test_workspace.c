/* Tests for src/core/workspace.c: alignment, zeroing, arena bounds. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "core/workspace.h"

Test(workspace, allocations_are_aligned_and_zeroed)
{
    for (size_t n = 1; n < 200; n += 13) {
        double *p = pf_alloc_doubles(n, "test buffer");
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % PF_ALIGN, 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(p[i], 0.0);
        pf_free(p);
    }
}

Test(workspace, arena_slices_are_aligned_disjoint_and_bounded)
{
    pf_arena arena;
    size_t sizes[4] = {3, 8, 17, 1};
    size_t need = 0;
    for (int i = 0; i < 4; i++)
        need += pf_arena_cost(sizes[i]);
    cr_assert_eq(pf_arena_init(&arena, need, "test arena"), PF_OK);
    double *slices[4];
    for (int i = 0; i < 4; i++) {
        slices[i] = pf_arena_take(&arena, sizes[i]);
        cr_assert_not_null(slices[i], "slice %d", i);
        cr_assert_eq((uintptr_t)slices[i] % PF_ALIGN, 0);
        for (size_t k = 0; k < sizes[i]; k++)
            slices[i][k] = i + 1;
    }
    for (int i = 0; i < 4; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            cr_assert_eq(slices[i][k], i + 1.0, "slice %d overlaps another", i);
    cr_assert_null(pf_arena_take(&arena, 1), "a full arena must refuse");
    pf_arena_reset(&arena);
    cr_assert_eq(pf_arena_take(&arena, 1), slices[0]);
    pf_arena_free(&arena);
}

Test(workspace, impossible_allocation_fails_with_a_message)
{
    double *p = pf_alloc_doubles(SIZE_MAX / 4, "huge buffer");
    cr_assert_null(p);
    cr_assert_not_null(strstr(pf_last_error(), "huge buffer"), "%s", pf_last_error());
}
