/* A continuous normalizing flow dx/dt = f_θ(x, t), t ∈ [0, T], as a pf_flow
 * (docs/theory.md §7). One solve integrates the state (x, L[, g]) of the whole batch:
 *   dx/dt = f,  dL/dt = div f,  dg/dt = −(∂ₓf)ᵀg − ∇ₓ div f,
 * from t_a to t_b with L(t_a) = 0, so L(t_b) is the log-determinant of the
 * pass (forward 0 → T: log|det ∂x/∂z|; inverse T → 0: log|det ∂z/∂x|) and g
 * carries a score along (the recursion, in either direction).
 * backward() is the adjoint of the last pass with λₓ alone as backward state:
 *   dλ/dt = −(∂ₓf)ᵀλ − w ∇ₓ div f,   quadrature −(∂_θf)ᵀλ − w ∇_θ div f,
 * w the per-sample cotangent of the log-determinant (0: first order only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>

#include "core/error.h"
#include "core/workspace.h"
#include "flows/flow_impl.h"
#include "ode/cvodes_solve.h"
#include "ode/field.h"

#define STREAM_PROBES (6ULL << 40)

typedef struct cnf {
    pf_flow *flow;
    pf_cnf_options o;
    pf_field *field;   /* the MLP or the lattice field, through its operations */
    SUNContext ctx;
    pf_ode_settings settings;
    /* [with score][direction]: state (x, L) or (x, L, g), inverse (0) or
     * forward (1); one solver per direction, since CVODES memories keep the
     * direction of their last integration. */
    pf_ode_solver solver[2][2];
    pf_ode_stats stats;
    int B;            /* batch of the solve in progress / the last pass */
    int with_score;   /* the last pass carried g */
    int forward;      /* the last pass ran 0 → T */
    double t_start, t_end;
    const double *w;  /* log-determinant cotangent during a backward solve */
    double *y0, *y1;  /* B_max·(2d + 1): solve state in/out */
    double *probes;   /* B_max×d Rademacher probes (Hutchinson) */
    double *lambda0, *grad_q, *scratch; /* B_max×d, n_params, B_max×d */
    uint64_t n_solves;
    int nonfinite;    /* the RHS met a non-finite value */
    int want_grad;    /* the adjoint solve in progress needs the parameter quadrature */
} cnf;

/* Forward RHS on the packed state: x (B×d), L (B), g (B×d, optional). */
static int cnf_rhs(double t, N_Vector y, N_Vector ydot, void *user)
{
    cnf *c = user;
    const int B = c->B, d = c->o.dim;
    const size_t bd = (size_t)B * d;
    const double *Y = N_VGetArrayPointer(y);
    double *D = N_VGetArrayPointer(ydot);
    c->field->ops->eval_div(c->field, c->flow->params, B, t, Y, D, D + bd,
                            c->with_score ? Y + bd + B : NULL, D + bd + B);
    size_t n = c->with_score ? 2 * bd + B : bd + B;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(D[i])) {
            c->nonfinite = 1;
            return -1; /* unrecoverable: the solve ends with CV_RHSFUNC_FAIL */
        }
    return 0;
}

static int cnf_rhs_b(double t, N_Vector y, N_Vector yB, N_Vector yBdot, void *user)
{
    cnf *c = user;
    c->field->ops->adjoint(c->field, c->flow->params, c->B, t, N_VGetArrayPointer(y),
                           N_VGetArrayPointer(yB), c->w, N_VGetArrayPointer(yBdot), NULL);
    const size_t n = (size_t)c->B * c->o.dim;
    const double *D = N_VGetArrayPointer(yBdot);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(D[i])) {
            c->nonfinite = 1;
            return -1;
        }
    return 0;
}

static int cnf_quad_b(double t, N_Vector y, N_Vector yB, N_Vector qBdot, void *user)
{
    cnf *c = user;
    if (!c->want_grad) { /* input cotangent only: the quadrature is not needed */
        N_VConst(0.0, qBdot);
        return 0;
    }
    c->field->ops->adjoint(c->field, c->flow->params, c->B, t, N_VGetArrayPointer(y),
                           N_VGetArrayPointer(yB), c->w, c->scratch, N_VGetArrayPointer(qBdot));
    return 0;
}

/* Rademacher probes of this solve, fixed for it and its adjoint: row i from
 * row noise_row + i of the key set by pf_flow_set_noise, else fresh per solve
 * (keys with the top bit set, apart from any the trainer uses). */
static void draw_probes(cnf *c, int B)
{
    if (!c->o.hutchinson)
        return;
    const pf_flow *f = c->flow;
    const uint64_t d = (uint64_t)c->o.dim;
    pf_rng rng = pf_rng_make(c->o.seed, STREAM_PROBES + (f->noise_set ? f->noise_key
                                                                       : (1ULL << 63) | c->n_solves));
    pf_rng_rademacher_at(&rng, f->noise_set ? f->noise_row * d : 0, (size_t)B * d, c->probes);
    c->field->ops->set_probes(c->field, B, c->probes);
}

/* One pass: in (B×d) at t_a → out (B×d), ldj (B) = L(t_b), and with
 * score_in (B×d) the transported score score_out (B×d). */
static pf_status cnf_pass(pf_flow *flow, int B, int forward, const double *in, double *out,
                          double *ldj, const double *score_in, double *score_out)
{
    cnf *c = flow->content;
    const int d = c->o.dim;
    const size_t bd = (size_t)B * d;
    c->B = B;
    c->with_score = score_in != NULL;
    c->forward = forward;
    memcpy(c->y0, in, bd * sizeof *in);
    memset(c->y0 + bd, 0, (size_t)B * sizeof *c->y0);
    if (score_in)
        memcpy(c->y0 + bd + B, score_in, bd * sizeof *score_in);
    draw_probes(c, B);
    c->n_solves++;
    c->t_start = forward ? 0.0 : c->o.t1;
    c->t_end = forward ? c->o.t1 : 0.0;
    c->nonfinite = 0;
    long n = (long)(bd + B + (score_in ? bd : 0));
    pf_status st = pf_ode_solve_forward(&c->solver[c->with_score][forward], c->ctx, &c->settings, n,
                                        cnf_rhs, c, c->t_start, c->t_end, c->y0, c->y1,
                                        &c->stats, forward ? "cnf forward solve" : "cnf inverse solve");
    if (st != PF_OK)
        return c->nonfinite ? pf_fail_context(PF_ERR_NUMERIC, "non-finite vector field") : st;
    memcpy(out, c->y1, bd * sizeof *out);
    memcpy(ldj, c->y1 + bd, (size_t)B * sizeof *ldj);
    if (score_in)
        memcpy(score_out, c->y1 + bd + B, bd * sizeof *score_out);
    return PF_OK;
}

static pf_status cnf_forward(pf_flow *flow, int B, const double *z, double *x, double *ldj,
                             const double *score_in, double *score_out)
{
    return cnf_pass(flow, B, 1, z, x, ldj, score_in, score_out);
}

static pf_status cnf_inverse(pf_flow *flow, int B, const double *x, double *z, double *ldj,
                             const double *score_in, double *score_out)
{
    return cnf_pass(flow, B, 0, x, z, ldj, score_in, score_out);
}

/* The adjoint of the last pass: out_bar (B×d) at t_end, ldj_bar (B or NULL)
 * → in_bar += λ(t_start), grad += ∫ (∂_θf)ᵀλ + w ∂_θ div f. */
static pf_status cnf_backward(pf_flow *flow, int B, const double *out_bar, const double *ldj_bar,
                              double *grad, double *in_bar)
{
    cnf *c = flow->content;
    if (B != c->B)
        return pf_fail(PF_ERR_ARG, "cnf backward: batch %d differs from the last pass's %d", B,
                       c->B);
    const size_t bd = (size_t)B * c->o.dim;
    c->w = ldj_bar;
    c->want_grad = grad != NULL;
    c->nonfinite = 0;
    pf_status st = pf_ode_solve_backward(&c->solver[c->with_score][c->forward], (long)bd, cnf_rhs_b,
                                         (long)flow->n_params, cnf_quad_b, c, c->t_end,
                                         c->t_start, out_bar, c->lambda0,
                                         grad ? c->grad_q : NULL, &c->stats, "cnf adjoint solve");
    c->w = NULL;
    if (st != PF_OK)
        return c->nonfinite ? pf_fail_context(PF_ERR_NUMERIC, "non-finite adjoint") : st;
    if (in_bar)
        for (size_t i = 0; i < bd; i++)
            in_bar[i] += c->lambda0[i];
    if (grad)
        for (size_t i = 0; i < flow->n_params; i++)
            grad[i] += c->grad_q[i];
    return PF_OK;
}

static void cnf_free_buffers(cnf *c)
{
    for (int k = 0; k < 4; k++)
        pf_ode_solver_free(&c->solver[k / 2][k % 2]);
    double *bufs[] = {c->y0, c->y1, c->probes, c->lambda0, c->grad_q, c->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        pf_free(bufs[i]);
    c->y0 = c->y1 = c->probes = c->lambda0 = c->grad_q = c->scratch = NULL;
}

static pf_status cnf_reserve(pf_flow *flow, int B_max)
{
    cnf *c = flow->content;
    const size_t bd = (size_t)B_max * c->o.dim;
    cnf_free_buffers(c);
    PF_TRY(c->field->ops->reserve(c->field, B_max));
    c->y0 = pf_alloc_doubles(2 * bd + (size_t)B_max, "cnf state");
    c->y1 = pf_alloc_doubles(2 * bd + (size_t)B_max, "cnf state");
    c->probes = pf_alloc_doubles(bd, "cnf probes");
    c->lambda0 = pf_alloc_doubles(bd, "cnf adjoint");
    c->scratch = pf_alloc_doubles(bd, "cnf adjoint");
    c->grad_q = pf_alloc_doubles(flow->n_params, "cnf parameter adjoint");
    if (!c->y0 || !c->y1 || !c->probes || !c->lambda0 || !c->scratch || !c->grad_q)
        return PF_ERR_NOMEM;
    return PF_OK;
}

static void cnf_destroy(pf_flow *flow)
{
    cnf *c = flow->content;
    if (!c)
        return;
    cnf_free_buffers(c);
    pf_field_destroy(c->field);
    if (c->ctx)
        SUNContext_Free(&c->ctx);
    free(c);
}

static const pf_flow_ops cnf_ops = {"cnf", cnf_reserve, cnf_forward, cnf_inverse, cnf_backward,
                                    cnf_destroy};

pf_cnf_options pf_cnf_options_default(void)
{
    pf_cnf_options o;
    memset(&o, 0, sizeof o);
    o.dim = 2;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 32;
    o.activation = "tanh";
    o.zero_init = 1;
    o.init_scale = 1.0;
    o.t1 = 1.0;
    o.rtol = 1e-5;
    o.atol = 1e-5;
    o.max_steps = 10000;
    o.checkpoint_steps = 100;
    o.field = "mlp";
    o.features = 8;
    o.frequency = 3.0;
    o.odd = 1;
    o.time_basis = 4;
    o.radius = 1.0;
    o.symmetric = 1;
    return o;
}

static int flow_is_lattice(const pf_cnf_options *o)
{
    return o->field && strcmp(o->field, "lattice") == 0;
}

/* Options of every field: dimension, time, solver. */
static pf_status check_common_options(const pf_cnf_options *o)
{
    if (o->dim < 1)
        return pf_fail(PF_ERR_ARG, "cnf: dim = %d must be ≥ 1", o->dim);
    if (o->field && strcmp(o->field, "mlp") != 0 && strcmp(o->field, "lattice") != 0)
        return pf_fail(PF_ERR_ARG, "cnf: field '%s' is neither 'mlp' nor 'lattice'", o->field);
    if (!(o->t1 > 0) || !isfinite(o->t1))
        return pf_fail(PF_ERR_ARG, "cnf: t1 = %g must be > 0", o->t1);
    if (!(o->rtol > 0) || !(o->atol > 0))
        return pf_fail(PF_ERR_ARG, "cnf: rtol = %g and atol = %g must be > 0", o->rtol, o->atol);
    if (o->max_steps < 1 || o->checkpoint_steps < 1)
        return pf_fail(PF_ERR_ARG, "cnf: max_steps = %ld and checkpoint_steps = %d must be ≥ 1",
                       o->max_steps, o->checkpoint_steps);
    return PF_OK;
}

/* Options of the MLP field. */
static pf_status check_cnf_options(const pf_cnf_options *o, pf_activation *act)
{
    if (o->n_hidden < 0 || o->n_hidden > 16)
        return pf_fail(PF_ERR_ARG, "cnf: %d hidden layers outside [0, 16]", o->n_hidden);
    PF_TRY(pf_activation_from_name(o->activation ? o->activation : "tanh", act));
    if (*act == PF_ACT_RELU || *act == PF_ACT_LEAKY_RELU)
        return pf_fail(PF_ERR_ARG, "cnf: activation '%s' has no second derivative; the "
                                   "divergence gradients need tanh or softplus", o->activation);
    return PF_OK;
}

static void cnf_describe(const pf_cnf_options *o, pf_flow *flow)
{
    if (flow_is_lattice(o)) { /* no lattice size: the parameters fit any size */
        snprintf(flow->description, sizeof flow->description,
                 "cnf field=lattice dims=%d features=%d frequency=%g parity=%s time_basis=%d "
                 "radius=%g symmetry=%s t1=%g",
                 o->n_lattice, o->features, o->frequency, o->odd ? "odd" : "any", o->time_basis,
                 o->radius, o->symmetric ? "hypercubic" : "none", o->t1);
        return;
    }
    snprintf(flow->description, sizeof flow->description,
             "cnf dim=%d activation=%s t1=%g divergence=%s ", o->dim,
             o->activation ? o->activation : "tanh", o->t1, o->hutchinson ? "hutchinson" : "exact");
    pf_flow_describe_widths(flow, o->n_hidden, o->hidden);
}

static pf_status make_field(const pf_cnf_options *o, pf_field **out)
{
    if (flow_is_lattice(o)) {
        if (o->hutchinson)
            return pf_fail(PF_ERR_ARG, "cnf: the lattice field's divergence is exact and cheap; "
                                       "Hutchinson's estimator applies to the mlp field only");
        return pf_field_lattice_create(o, out);
    }
    pf_activation act;
    PF_TRY(check_cnf_options(o, &act));
    return pf_field_mlp_create(o->dim, o->n_hidden, o->hidden, act, o->hutchinson, out);
}

pf_status pf_flow_cnf_create(const pf_cnf_options *o, pf_flow **out)
{
    *out = NULL;
    PF_TRY(check_common_options(o));
    cnf *c = calloc(1, sizeof *c);
    if (!c)
        return pf_fail(PF_ERR_NOMEM, "cnf: cannot allocate");
    c->o = *o;
    c->settings = (pf_ode_settings){o->rtol, o->atol, o->max_steps, o->checkpoint_steps, o->bdf};
    pf_status st = make_field(o, &c->field);
    if (st == PF_OK && SUNContext_Create(NULL, &c->ctx) != 0)
        st = pf_fail(PF_ERR_NOMEM, "cnf: cannot create a SUNDIALS context");
    if (st == PF_OK)
        st = pf_flow_alloc(&cnf_ops, o->dim, PF_BASE_NORMAL, c->field->n_params, out);
    if (st != PF_OK) {
        if (c->ctx)
            SUNContext_Free(&c->ctx);
        pf_field_destroy(c->field);
        free(c);
        return st;
    }
    (*out)->content = c;
    (*out)->ode_stats = &c->stats;
    c->flow = *out;
    pf_rng rng = pf_rng_make(o->seed, 0x5EED);
    c->field->ops->init_params(c->field, (*out)->params, &rng, o->zero_init, o->init_scale);
    cnf_describe(o, *out);
    return PF_OK;
}

int pf_flow_size_independent(const pf_flow *flow)
{
    if (!flow || flow->ops != &cnf_ops)
        return 0;
    const cnf *c = flow->content;
    return c->field->size_independent;
}
