/* A target from user callbacks: the main entry for embedding programs.
 * Callbacks return 0 (ok), > 0 (recoverable failure) or < 0 (fatal), the
 * SUNDIALS convention; either failure becomes PF_ERR_CALLBACK with the value
 * in the message. Observables are the coordinates. Shapes: x B×d. */
#include <stdlib.h>

#include "core/error.h"
#include "targets/target_impl.h"

typedef struct custom {
    pf_action_fn action;
    pf_force_fn force; /* may be NULL */
    void *user;        /* passed through untouched, owned by the caller */
} custom;

static pf_status callback_status(int rc, const char *which)
{
    if (rc == 0)
        return PF_OK;
    return pf_fail(PF_ERR_CALLBACK, "custom target: %s callback returned %d (%s)", which, rc,
                   rc > 0 ? "recoverable" : "fatal");
}

/* x: B×d → S: B. */
static pf_status custom_action(pf_target *t, int B, const double *x, double *S)
{
    const custom *c = t->content;
    return callback_status(c->action(c->user, B, x, S), "action");
}

/* x: B×d → force: B×d. Only installed when a force callback was given. */
static pf_status custom_force(pf_target *t, int B, const double *x, double *force)
{
    const custom *c = t->content;
    return callback_status(c->force(c->user, B, x, force), "force");
}

static void custom_destroy(pf_target *t)
{
    free(t->content);
}

/* Two tables: without a force callback the generic pf_target_force reports
 * PF_ERR_UNSUPPORTED, as for any target that offers no force. */
static const pf_target_ops custom_ops = {
    .kind = "custom",
    .action = custom_action,
    .force = custom_force,
    .sample = NULL,
    .observables = pf_coordinate_observables,
    .summaries = pf_coordinate_summaries,
    .destroy = custom_destroy,
};
static const pf_target_ops custom_no_force_ops = {
    .kind = "custom",
    .action = custom_action,
    .force = NULL,
    .sample = NULL,
    .observables = pf_coordinate_observables,
    .summaries = pf_coordinate_summaries,
    .destroy = custom_destroy,
};

pf_status pf_target_custom_create(int dim, pf_action_fn action, pf_force_fn force, void *user,
                                  pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "custom target: out is NULL");
    *out = NULL;
    if (dim < 1)
        return pf_fail(PF_ERR_ARG, "custom target: dim = %d must be ≥ 1", dim);
    if (!action)
        return pf_fail(PF_ERR_ARG, "custom target: the action callback is NULL");
    pf_target *t;
    PF_TRY(pf_target_alloc(force ? &custom_ops : &custom_no_force_ops, dim, &t));
    custom *c = malloc(sizeof *c);
    t->content = c;
    pf_status st =
        c ? pf_coordinate_names(t) : pf_fail(PF_ERR_NOMEM, "custom target: cannot allocate");
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
