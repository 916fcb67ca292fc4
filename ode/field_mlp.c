/* The dense MLP field of ode/vector_field.c behind the field operations of
 * ode/field.h. */
#include <stdlib.h>

#include "core/error.h"
#include "ode/field.h"
#include "ode/vector_field.h"

static pf_status mlp_reserve(pf_field *field, int B_max)
{
    return pf_vector_field_reserve(field->content, B_max);
}

static void mlp_set_probes(pf_field *field, int B, const double *eps)
{
    pf_vector_field_set_probes(field->content, B, eps);
}

static void mlp_eval_div(pf_field *field, const double *params, int B, double t, const double *x,
                         double *f, double *div, const double *g, double *dg)
{
    pf_vector_field_eval_div(field->content, params, B, t, x, f, div, g, dg);
}

static void mlp_adjoint(pf_field *field, const double *params, int B, double t, const double *x,
                        const double *lambda, const double *w, double *dlambda, double *grad)
{
    pf_vector_field_adjoint(field->content, params, B, t, x, lambda, w, dlambda, grad);
}

static void mlp_init_params(const pf_field *field, double *params, pf_rng *rng, int zero_last,
                            double scale)
{
    const pf_vector_field *vf = field->content;
    pf_mlp_init_params(&vf->mlp, params, rng, zero_last);
    for (size_t i = 0; i < field->n_params; i++)
        params[i] *= scale;
}

static void mlp_destroy(pf_field *field)
{
    if (field->content) {
        pf_vector_field_free(field->content);
        free(field->content);
    }
    free(field);
}

static const pf_field_ops mlp_ops = {mlp_reserve, mlp_set_probes,  mlp_eval_div,
                                     mlp_adjoint, mlp_init_params, mlp_destroy};

pf_status pf_field_mlp_create(int d, int n_hidden, const int *hidden, pf_activation activation,
                              int hutchinson, pf_field **out)
{
    *out = NULL;
    pf_field *field = calloc(1, sizeof *field);
    pf_vector_field *vf = calloc(1, sizeof *vf);
    if (!field || !vf) {
        free(field);
        free(vf);
        return pf_fail(PF_ERR_NOMEM, "cnf: cannot allocate the vector field");
    }
    field->ops = &mlp_ops;
    field->content = vf;
    field->d = d;
    pf_status st = pf_vector_field_init(vf, d, n_hidden, hidden, activation, hutchinson);
    if (st != PF_OK) {
        mlp_destroy(field);
        return st;
    }
    field->n_params = vf->mlp.n_params;
    *out = field;
    return PF_OK;
}

void pf_field_destroy(pf_field *field)
{
    if (field)
        field->ops->destroy(field);
}
