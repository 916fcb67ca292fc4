/* A target from user callbacks: the main entry for embedding programs.
 * Callbacks return 0 (ok), > 0 (recoverable failure) or < 0 (fatal). */
#include <stdlib.h>

#include "core/error.h"
#include "targets/target_impl.h"

typedef struct custom {
    pf_action_fn action;
    pf_force_fn force;
    void *user;
} custom;

static pf_status callback_status(int rc, const char *which)
{
    if (rc == 0)
        return PF_OK;
    return pf_fail(PF_ERR_CALLBACK, "custom target: %s callback returned %d (%s)", which, rc,
                   rc > 0 ? "recoverable" : "fatal");
}

static pf_status custom_action(pf_target *t, int B, const double *x, double *S)
{
    custom *c = t->content;
    return callback_status(c->action(c->user, B, x, S), "action");
}

static pf_status custom_force(pf_target *t, int B, const double *x, double *force)
{
    custom *c = t->content;
    if (!c->force)
        return pf_fail(PF_ERR_UNSUPPORTED, "custom target: no force callback was given");
    return callback_status(c->force(c->user, B, x, force), "force");
}

static void custom_destroy(pf_target *t) { free(t->content); }

static const pf_target_ops custom_ops = {"custom",
                                         custom_action,
                                         custom_force,
                                         NULL,
                                         pf_coordinate_observables,
                                         pf_coordinate_summaries,
                                         custom_destroy};

pf_status pf_target_custom_create(int dim, pf_action_fn action, pf_force_fn force, void *user,
                                  pf_target **out)
{
    *out = NULL;
    if (dim < 1)
        return pf_fail(PF_ERR_ARG, "custom target: dim = %d must be ≥ 1", dim);
    if (!action)
        return pf_fail(PF_ERR_ARG, "custom target: the action callback is NULL");
    pf_target *t;
    PF_TRY(pf_target_alloc(&custom_ops, dim, &t));
    custom *c = malloc(sizeof *c);
    t->content = c;
    pf_status st = c ? pf_coordinate_names(t) : pf_fail(PF_ERR_NOMEM, "custom target: cannot allocate");
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    c->action = action;
    c->force = force;
    c->user = user;
    *out = t;
    return PF_OK;
}
