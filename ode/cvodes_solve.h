/* Internal: CVODES solves of a batch as one N_Vector system — a forward (or
 * inverse, t decreasing) solve with adjoint checkpoints, then backward
 * problems with parameter quadratures. docs/theory.md §7 (the adjoint rule). */
#ifndef PF_ODE_CVODES_SOLVE_H
#define PF_ODE_CVODES_SOLVE_H

#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>

#include <pathflow/flow.h>

typedef struct pf_ode_settings {
    double rtol, atol;
    long max_steps;
    int checkpoint_steps;
    int bdf;
} pf_ode_settings;

/* One solve configuration (state length n): the CVODES memory with its
 * checkpoints and up to two backward problems (without / with quadrature).
 * Created on first use, re-initialised afterwards (no allocation per step). */
typedef struct pf_ode_solver {
    SUNContext ctx;
    pf_ode_settings settings;
    void *mem;
    N_Vector y;
    SUNNonlinearSolver nls;
    SUNLinearSolver ls;
    long n;
    /* backward problems: [0] without quadrature, [1] with */
    int which[2], created_b[2];
    N_Vector yB, qB;
    long nB, nQ;
    SUNNonlinearSolver nlsB[2];
    SUNLinearSolver lsB[2];
    char message[512]; /* the last CVODES error text */
} pf_ode_solver;

/* Right-hand sides (CVODES signatures). */
typedef int (*pf_ode_rhs)(double t, N_Vector y, N_Vector ydot, void *user);
typedef int (*pf_ode_rhs_b)(double t, N_Vector y, N_Vector yB, N_Vector yBdot, void *user);

void pf_ode_solver_free(pf_ode_solver *s);

/* Solves dy/dt = rhs from t0 to t1 (either direction) with checkpoints;
 * y0 (n) in, y1 (n) out. `what` names the solve in messages. */
pf_status pf_ode_solve_forward(pf_ode_solver *s, SUNContext ctx, const pf_ode_settings *settings,
                               long n, pf_ode_rhs rhs, void *user, double t0, double t1,
                               const double *y0, double *y1, pf_ode_stats *stats,
                               const char *what);

/* The adjoint of the last forward solve: λ(t1) = lambda1 (nB), integrated
 * back to t0 → lambda0 (nB), with the quadrature of quad_rhs (nQ values,
 * from 0) → q0 (NULL: not wanted; quad_rhs should then return zeros). */
pf_status pf_ode_solve_backward(pf_ode_solver *s, long nB, pf_ode_rhs_b rhs_b, long nQ,
                                pf_ode_rhs_b quad_rhs, void *user, double t1, double t0,
                                const double *lambda1, double *lambda0, double *q0,
                                pf_ode_stats *stats, const char *what);

#endif
