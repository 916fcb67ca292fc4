/* CVODES forward solves with checkpoints and adjoint (backward) solves with
 * quadratures. Every CVODES failure becomes PF_ERR_SOLVER with a message that
 * names the solve, the time reached and the flag; CVODES itself prints
 * nothing (its error handler only records the text). */
#include "ode/cvodes_solve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cvodes/cvodes_ls.h>
#include <sunlinsol/sunlinsol_spgmr.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>

#include "core/error.h"
#include "ode/nvector_fast.h"

static void record_error(int code, const char *module, const char *function, char *msg,
                         void *user)
{
    pf_ode_solver *s = user;
    size_t used = strlen(s->message); /* keep the first (innermost) message, append the rest */
    snprintf(s->message + used, sizeof s->message - used, "%s%s: %s", used ? "; " : "",
             function, msg);
    (void)code;
    (void)module;
}

/* detail: "" or " after N steps (...)" for a failed solve. */
static pf_status flag_status(pf_ode_solver *s, int flag, const char *what, const char *call,
                             double t, const char *detail)
{
    char *name = CVodeGetReturnFlagName(flag);
    pf_status st = pf_fail(PF_ERR_SOLVER, "%s: %s failed at t = %.6g%s with %s (%d)%s%s", what,
                           call, t, detail, name, flag, s->message[0] ? ": " : "", s->message);
    free(name);
    s->message[0] = '\0';
    return st;
}

/* A failed CVodeF/CVodeB: where it stopped and the step counts that say why. */
static pf_status solve_failed(pf_ode_solver *s, void *mem, int flag, const char *what,
                              const char *call)
{
    double t = 0;
    long steps = 0, err_fails = 0, conv_fails = 0;
    CVodeGetCurrentTime(mem, &t);
    CVodeGetNumSteps(mem, &steps);
    CVodeGetNumErrTestFails(mem, &err_fails);
    CVodeGetNumNonlinSolvConvFails(mem, &conv_fails);
    char detail[160];
    snprintf(detail, sizeof detail,
             " after %ld steps (%ld error-test failures, %ld nonlinear convergence failures)",
             steps, err_fails, conv_fails);
    return flag_status(s, flag, what, call, t, detail);
}

#define CHECK(call, name)                                        \
    do {                                                         \
        int flag_ = (call);                                      \
        if (flag_ < 0)                                           \
            return flag_status(s, flag_, what, name, t_report, "");  \
    } while (0)

void pf_ode_solver_free(pf_ode_solver *s)
{
    if (s->mem)
        CVodeFree(&s->mem);
    if (s->y)
        N_VDestroy(s->y);
    if (s->yB)
        N_VDestroy(s->yB);
    if (s->qB)
        N_VDestroy(s->qB);
    if (s->nls)
        SUNNonlinSolFree(s->nls);
    if (s->ls)
        SUNLinSolFree(s->ls);
    for (int k = 0; k < 2; k++) {
        if (s->nlsB[k])
            SUNNonlinSolFree(s->nlsB[k]);
        if (s->lsB[k])
            SUNLinSolFree(s->lsB[k]);
    }
    memset(s, 0, sizeof *s);
}

/* A new CVODES memory for states of length n (first use of this layout). */
static pf_status create(pf_ode_solver *s, SUNContext ctx, const pf_ode_settings *o, long n,
                        pf_ode_rhs rhs, void *user, double t0, const char *what)
{
    const double t_report = t0;
    pf_ode_solver_free(s);
    s->ctx = ctx;
    s->settings = *o;
    s->n = n;
    s->y = N_VNew_Serial(n, ctx);
    s->mem = CVodeCreate(o->bdf ? CV_BDF : CV_ADAMS, ctx);
    if (!s->y || !s->mem)
        return pf_fail(PF_ERR_NOMEM, "%s: cannot create the CVODES solver for %ld unknowns", what, n);
    pf_nvector_install_fast_ops(s->y);
    CHECK(CVodeSetErrHandlerFn(s->mem, record_error, s), "CVodeSetErrHandlerFn");
    CHECK(CVodeInit(s->mem, rhs, t0, s->y), "CVodeInit");
    CHECK(CVodeSStolerances(s->mem, o->rtol, o->atol), "CVodeSStolerances");
    CHECK(CVodeSetUserData(s->mem, user), "CVodeSetUserData");
    CHECK(CVodeSetMaxNumSteps(s->mem, o->max_steps), "CVodeSetMaxNumSteps");
    if (o->bdf) {
        s->ls = SUNLinSol_SPGMR(s->y, SUN_PREC_NONE, 0, ctx);
        CHECK(CVodeSetLinearSolver(s->mem, s->ls, NULL), "CVodeSetLinearSolver");
    } else {
        s->nls = SUNNonlinSol_FixedPoint(s->y, 0, ctx);
        CHECK(CVodeSetNonlinearSolver(s->mem, s->nls), "CVodeSetNonlinearSolver");
    }
    CHECK(CVodeAdjInit(s->mem, o->checkpoint_steps, CV_HERMITE), "CVodeAdjInit");
    return PF_OK;
}

pf_status pf_ode_solve_forward(pf_ode_solver *s, SUNContext ctx, const pf_ode_settings *o,
                               long n, pf_ode_rhs rhs, void *user, double t0, double t1,
                               const double *y0, double *y1, pf_ode_stats *stats,
                               const char *what)
{
    double t_report = t0;
    if (!s->mem || s->n != n || memcmp(&s->settings, o, sizeof *o) != 0)
        PF_TRY(create(s, ctx, o, n, rhs, user, t0, what));
    memcpy(N_VGetArrayPointer(s->y), y0, (size_t)n * sizeof *y0);
    CHECK(CVodeReInit(s->mem, t0, s->y), "CVodeReInit");
    CHECK(CVodeAdjReInit(s->mem), "CVodeAdjReInit");
    CHECK(CVodeSetStopTime(s->mem, t1), "CVodeSetStopTime");
    double t_reached = t0;
    int n_checkpoints = 0;
    int flag = CVodeF(s->mem, t1, s->y, &t_reached, CV_NORMAL, &n_checkpoints);
    long steps = 0, rhs_evals = 0, err_fails = 0, conv_fails = 0;
    CVodeGetNumSteps(s->mem, &steps);
    CVodeGetNumRhsEvals(s->mem, &rhs_evals);
    CVodeGetNumErrTestFails(s->mem, &err_fails);
    CVodeGetNumNonlinSolvConvFails(s->mem, &conv_fails);
    stats->solves++;
    stats->steps += steps;
    stats->rhs_evals += rhs_evals;
    stats->checkpoints += n_checkpoints;
    stats->failures += err_fails + conv_fails;
    if (flag < 0)
        return solve_failed(s, s->mem, flag, what, "CVodeF");
    memcpy(y1, N_VGetArrayPointer(s->y), (size_t)n * sizeof *y1);
    return PF_OK;
}

/* Creates backward problem k (0: no quadrature, 1: with) on first use. */
static pf_status create_backward(pf_ode_solver *s, int k, long nB, pf_ode_rhs_b rhs_b, long nQ,
                                 pf_ode_rhs_b quad_rhs, void *user, double t1, const char *what)
{
    const double t_report = t1;
    const pf_ode_settings *o = &s->settings;
    CHECK(CVodeCreateB(s->mem, o->bdf ? CV_BDF : CV_ADAMS, &s->which[k]), "CVodeCreateB");
    int w = s->which[k];
    CHECK(CVodeInitB(s->mem, w, rhs_b, t1, s->yB), "CVodeInitB");
    void *memB = CVodeGetAdjCVodeBmem(s->mem, w);
    CHECK(CVodeSetErrHandlerFn(memB, record_error, s), "CVodeSetErrHandlerFn");
    CHECK(CVodeSStolerancesB(s->mem, w, o->rtol, o->atol), "CVodeSStolerancesB");
    CHECK(CVodeSetUserDataB(s->mem, w, user), "CVodeSetUserDataB");
    CHECK(CVodeSetMaxNumStepsB(s->mem, w, o->max_steps), "CVodeSetMaxNumStepsB");
    if (o->bdf) {
        s->lsB[k] = SUNLinSol_SPGMR(s->yB, SUN_PREC_NONE, 0, s->ctx);
        CHECK(CVodeSetLinearSolverB(s->mem, w, s->lsB[k], NULL), "CVodeSetLinearSolverB");
    } else {
        s->nlsB[k] = SUNNonlinSol_FixedPoint(s->yB, 0, s->ctx);
        CHECK(CVodeSetNonlinearSolverB(s->mem, w, s->nlsB[k]), "CVodeSetNonlinearSolverB");
    }
    if (k == 1) {
        CHECK(CVodeQuadInitB(s->mem, w, quad_rhs, s->qB), "CVodeQuadInitB");
        CHECK(CVodeQuadSStolerancesB(s->mem, w, o->rtol, o->atol), "CVodeQuadSStolerancesB");
        CHECK(CVodeSetQuadErrConB(s->mem, w, SUNTRUE), "CVodeSetQuadErrConB");
    }
    s->created_b[k] = 1;
    (void)nB;
    (void)nQ;
    return PF_OK;
}

/* (Re)allocates the backward vectors when their sizes change. */
static pf_status backward_vectors(pf_ode_solver *s, long nB, long nQ, const char *what)
{
    if (!s->yB || s->nB != nB) {
        if (s->created_b[0] || s->created_b[1])
            return pf_fail(PF_ERR_ARG, "%s: adjoint state size changed for one solver", what);
        if (s->yB)
            N_VDestroy(s->yB);
        s->yB = N_VNew_Serial(nB, s->ctx);
        if (s->yB)
            pf_nvector_install_fast_ops(s->yB);
        s->nB = nB;
    }
    if (nQ && (!s->qB || s->nQ != nQ)) {
        if (s->created_b[1])
            return pf_fail(PF_ERR_ARG, "%s: quadrature size changed for one solver", what);
        if (s->qB)
            N_VDestroy(s->qB);
        s->qB = N_VNew_Serial(nQ, s->ctx);
        if (s->qB)
            pf_nvector_install_fast_ops(s->qB);
        s->nQ = nQ;
    }
    if (!s->yB || (nQ && !s->qB))
        return pf_fail(PF_ERR_NOMEM, "%s: cannot allocate adjoint vectors", what);
    return PF_OK;
}

pf_status pf_ode_solve_backward(pf_ode_solver *s, long nB, pf_ode_rhs_b rhs_b, long nQ,
                                pf_ode_rhs_b quad_rhs, void *user, double t1, double t0,
                                const double *lambda1, double *lambda0, double *q0,
                                pf_ode_stats *stats, const char *what)
{
    double t_report = t1;
    /* One backward problem per solver, always with its quadrature: CVodeB
     * integrates every backward problem of a memory, so a second one (without
     * quadrature) would have to be re-initialised and integrated too. Callers
     * that want no parameter gradient pass q0 = NULL and a cheap quad_rhs. */
    const int k = 1;
    if (!s->mem)
        return pf_fail(PF_ERR_ARG, "%s: no forward solve to differentiate", what);
    PF_TRY(backward_vectors(s, nB, nQ, what));
    memcpy(N_VGetArrayPointer(s->yB), lambda1, (size_t)nB * sizeof *lambda1);
    if (k)
        N_VConst(0.0, s->qB);
    if (!s->created_b[k])
        PF_TRY(create_backward(s, k, nB, rhs_b, nQ, quad_rhs, user, t1, what));
    else {
        CHECK(CVodeReInitB(s->mem, s->which[k], t1, s->yB), "CVodeReInitB");
        if (k)
            CHECK(CVodeQuadReInitB(s->mem, s->which[k], s->qB), "CVodeQuadReInitB");
    }
    int flag = CVodeB(s->mem, t0, CV_NORMAL);
    void *memB = CVodeGetAdjCVodeBmem(s->mem, s->which[k]);
    long steps = 0, rhs_evals = 0, quad_evals = 0;
    CVodeGetNumSteps(memB, &steps);
    CVodeGetNumRhsEvals(memB, &rhs_evals);
    if (k)
        CVodeGetQuadNumRhsEvals(memB, &quad_evals);
    stats->solves_b++;
    stats->steps_b += steps;
    stats->rhs_evals_b += rhs_evals + quad_evals;
    if (flag < 0)
        return solve_failed(s, memB, flag, what, "CVodeB");
    double t_got;
    t_report = t0;
    CHECK(CVodeGetB(s->mem, s->which[k], &t_got, s->yB), "CVodeGetB");
    memcpy(lambda0, N_VGetArrayPointer(s->yB), (size_t)nB * sizeof *lambda0);
    if (q0) {
        CHECK(CVodeGetQuadB(s->mem, s->which[k], &t_got, s->qB), "CVodeGetQuadB");
        memcpy(q0, N_VGetArrayPointer(s->qB), (size_t)nQ * sizeof *q0);
    }
    return PF_OK;
}
