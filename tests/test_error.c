/* Tests for src/core/error.c: messages, statuses, thread locality. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

Test(error, fail_records_the_message_and_returns_the_status)
{
    pf_clear_error();
    cr_assert_str_empty(pf_last_error());
    pf_status s = pf_fail(PF_ERR_CONFIG, "%s:%d: key '%s' unknown", "run.cfg", 12, "trainig");
    cr_assert_eq(s, PF_ERR_CONFIG);
    cr_assert_str_eq(pf_last_error(), "run.cfg:12: key 'trainig' unknown");
}

Test(error, context_prefixes_the_previous_message)
{
    pf_fail(PF_ERR_FORMAT, "data.npy: header: bad magic");
    pf_status s = pf_fail_context(PF_ERR_IO, "loading training data");
    cr_assert_eq(s, PF_ERR_IO);
    cr_assert_str_eq(pf_last_error(), "loading training data: data.npy: header: bad magic");
}

static pf_status fails_then(int *reached)
{
    PF_TRY(pf_fail(PF_ERR_IO, "inner"));
    *reached = 1;
    return PF_OK;
}

static pf_status succeeds_then(int *reached)
{
    PF_TRY(PF_OK);
    *reached = 1;
    return PF_OK;
}

Test(error, try_returns_failures_and_passes_success)
{
    int reached = 0;
    cr_assert_eq(fails_then(&reached), PF_ERR_IO);
    cr_assert_eq(reached, 0);
    cr_assert_eq(succeeds_then(&reached), PF_OK);
    cr_assert_eq(reached, 1);
}

Test(error, every_status_has_its_own_text)
{
    const pf_status all[] = {PF_OK,         PF_ERR_ARG,     PF_ERR_NOMEM,   PF_ERR_IO,
                             PF_ERR_FORMAT, PF_ERR_CONFIG,  PF_ERR_NUMERIC, PF_ERR_SOLVER,
                             PF_ERR_CALLBACK, PF_ERR_UNSUPPORTED, PF_ERR_PARALLEL};
    const int n = sizeof all / sizeof all[0];
    for (int i = 0; i < n; i++) {
        cr_assert_str_neq(pf_strerror(all[i]), "unknown status");
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(pf_strerror(all[i]), pf_strerror(all[j]));
    }
    cr_assert_str_eq(pf_strerror((pf_status)-999), "unknown status");
}

Test(error, version_string_matches_the_header)
{
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", PATHFLOW_VERSION_MAJOR,
             PATHFLOW_VERSION_MINOR, PATHFLOW_VERSION_PATCH);
    cr_assert_str_eq(pf_version(), expected);
}

static void *fail_in_thread(void *arg)
{
    pf_fail(PF_ERR_NUMERIC, "thread %d", *(int *)arg);
    static _Thread_local char copy[64];
    snprintf(copy, sizeof copy, "%s", pf_last_error());
    return strcmp(copy, *(int *)arg == 1 ? "thread 1" : "thread 2") == 0 ? arg : NULL;
}

Test(error, messages_are_per_thread)
{
    pf_fail(PF_ERR_ARG, "main thread");
    pthread_t t1, t2;
    int a = 1, b = 2;
    void *r1, *r2;
    pthread_create(&t1, NULL, fail_in_thread, &a);
    pthread_create(&t2, NULL, fail_in_thread, &b);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    cr_assert_not_null(r1);
    cr_assert_not_null(r2);
    cr_assert_str_eq(pf_last_error(), "main thread");
}
