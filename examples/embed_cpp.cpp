// The same library from C++: the headers are extern "C". A harmonic action
// S = |x|²/2 in 3-D (the target is the base distribution itself), a
// zero-initialised flow, and the path gradient, which is exactly zero when
// q = p (sticking the landing), against the standard one, which is not.
//
// Expected output:
//   path gradient norm 0, total gradient norm 0.…
#include <cmath>
#include <cstdio>
#include <vector>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>

static int action(void *, int B, const double *x, double *S)
{
    for (int b = 0; b < B; b++)
        S[b] = 0.5 * (x[3 * b] * x[3 * b] + x[3 * b + 1] * x[3 * b + 1] + x[3 * b + 2] * x[3 * b + 2]);
    return 0;
}

static int force(void *, int B, const double *x, double *F)
{
    for (int i = 0; i < 3 * B; i++)
        F[i] = x[i];
    return 0;
}

int main()
{
    pf_target *target = nullptr;
    pf_flow *flow = nullptr;
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 3;
    if (pf_target_custom_create(3, action, force, nullptr, &target) != PF_OK ||
        pf_flow_realnvp_create(&o, &flow) != PF_OK) {
        std::fprintf(stderr, "%s\n", pf_last_error());
        return 1;
    }
    const int B = 64;
    std::vector<double> z(3 * B), grad(pf_flow_n_params(flow));
    pf_rng rng = pf_rng_make(1, 0);
    pf_flow_sample_base(flow, &rng, B, z.data());
    const pf_estimator_kind kinds[2] = {PF_ESTIMATOR_PATH, PF_ESTIMATOR_TOTAL};
    double norms[2];
    for (int k = 0; k < 2; k++) {
        pf_estimator *e = nullptr;
        pf_estimate r;
        if (pf_estimator_create(PF_OBJECTIVE_REVERSE, kinds[k], flow, target, B, &e) != PF_OK ||
            pf_estimator_eval(e, B, z.data(), grad.data(), nullptr, &r) != PF_OK) {
            std::fprintf(stderr, "%s\n", pf_last_error());
            return 1;
        }
        norms[k] = r.grad_norm;
        pf_estimator_destroy(e);
    }
    std::printf("path gradient norm %g, total gradient norm %g\n", norms[0], norms[1]);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    return norms[0] == 0.0 && norms[1] > 0.0 ? 0 : 1;
}
