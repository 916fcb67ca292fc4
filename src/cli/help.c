/* `pathflow COMMAND --help`: what each command does, every option it takes,
 * an example and the exit codes. One text per command, kept beside the
 * others so that they read alike; tests/test_cli.c checks that each names
 * every option its command's parser accepts. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const char EXIT_CODES[] =
    "\nexit status:\n"
    "  0  success (also for --help)\n"
    "  1  any other failure (out of memory, an MPI failure, an internal error)\n"
    "  2  usage or configuration error: an unknown option, a missing value, a bad key or\n"
    "     value in the configuration (the message names the file, line and key)\n"
    "  3  input/output error: a file that cannot be read or written, a corrupt or\n"
    "     mismatched checkpoint, a malformed .npy file\n"
    "  4  numerical or solver failure: non-finite values, a CVODES solve that failed\n";

static const char TRAIN[] =
    "usage: pathflow train CONFIG [--set section.key=value ...] [--out DIR] [--stop-at N]\n"
    "                      [--init-from RUN|CKPT] [--force]\n"
    "       pathflow train --resume RUN [--set section.key=value ...] [--stop-at N]\n"
    "\n"
    "Trains the flow that CONFIG describes on its target and writes the run directory.\n"
    "Every configuration key, its type, default and range: docs/config.md.\n"
    "\n"
    "options:\n"
    "  CONFIG                 a libconfig file (see configs/ for examples)\n"
    "  --set section.key=value\n"
    "                         override one key of CONFIG (repeatable), e.g.\n"
    "                         --set training.steps=500; also --set=section.key=value\n"
    "  --out DIR              the run directory (also --out=DIR; default:\n"
    "                         experiment.output_dir/experiment.name)\n"
    "  --stop-at N            stop after step N and keep the checkpoint; the learning-rate\n"
    "                         schedule still aims at training.steps, so a later --resume\n"
    "                         continues exactly as if the run had not stopped\n"
    "  --resume RUN           continue the run in directory RUN from RUN/checkpoint.pfc\n"
    "                         with RUN/config.cfg, bit for bit. --set may change keys that\n"
    "                         do not shape training (eval.every, eval.samples, ...) and may\n"
    "                         raise training.steps to extend a finished run: the remaining\n"
    "                         steps follow the schedule recomputed over the new total (a\n"
    "                         cosine rises again from min_lr), see docs/config.md. Any\n"
    "                         other change is refused, naming the keys.\n"
    "  --init-from RUN|CKPT   start a new run from the parameters of another run (its\n"
    "                         directory or a checkpoint file) instead of a fresh\n"
    "                         initialisation: fine-tuning. The optimiser, step count and\n"
    "                         schedule start afresh; the flow in CONFIG must be the same\n"
    "                         (kind, dimension, layers, widths), else it is refused.\n"
    "  --force                replace the trained run DIR already holds (its checkpoint,\n"
    "                         samples, metrics and plots); without it such a DIR is refused\n"
    "  -h, --help             this help\n"
    "\n"
    "One process writes a run directory at a time (a lock on DIR/.pathflow.lock; a second\n"
    "writer is refused naming the holder's pid). SIGTERM or SIGINT stops at the next step\n"
    "with a checkpoint (exit 128 + signal number); a second signal ends it at once.\n"
    "\n"
    "writes into DIR: config.cfg (the resolved configuration), metrics.csv, checkpoint.pfc,\n"
    "samples.npy, log_weights.npy, and with gnuplot training.png (+ training.gp), for 2-D\n"
    "targets samples.png (+ samples.gp, samples_plot.dat, density_plot.dat), for lattice\n"
    "targets observables.png (+ observables.gp, observables_plot.dat); docs/formats.md.\n"
    "\n"
    "examples:\n"
    "  pathflow train configs/quickstart.cfg --out runs/demo\n"
    "  pathflow train configs/quickstart.cfg --set training.steps=100 --stop-at 50 --out r\n"
    "  pathflow train --resume r\n"
    "  pathflow train --resume runs/demo --set training.steps=3000\n"
    "  pathflow train configs/quickstart.cfg --init-from runs/demo --set training.lr=1e-3\n";

static const char HMC[] =
    "usage: pathflow hmc CONFIG -o FILE.npy [-n N] [--step E] [--leapfrog K]\n"
    "                    [--thermalize T] [--thin S] [--seed SEED] [--set key=value ...]\n"
    "\n"
    "Reference samples of CONFIG's target by Hybrid Monte Carlo (leapfrog trajectories\n"
    "with a Metropolis test), written as an (N, d) float64 .npy: training data for the\n"
    "forward KL objective on lattice targets, or a check of a trained flow.\n"
    "\n"
    "options:\n"
    "  CONFIG                 the configuration whose target is sampled (flow keys unused)\n"
    "  -o FILE.npy            the output file (required)\n"
    "  -n N                   samples written (default 1000)\n"
    "  --step E               leapfrog step size (default 0.1); aim for an acceptance\n"
    "                         of 0.6-0.9, printed at the end\n"
    "  --leapfrog K           leapfrog steps per trajectory (default 10)\n"
    "  --thermalize T         trajectories discarded before the first sample (default 200)\n"
    "  --thin S               trajectories between two samples written (default 5)\n"
    "  --seed SEED            random seed (default 1): the chain is reproducible\n"
    "  --set section.key=value\n"
    "                         override a key of CONFIG (repeatable)\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow hmc configs/phi4_reverse_path.cfg -o phi4_hmc.npy -n 5000 --step 0.05\n";

static const char CHECK[] =
    "usage: pathflow check CONFIG [--set section.key=value ...]\n"
    "\n"
    "Validates CONFIG and builds its target, flow and data without training: prints a\n"
    "one-line summary (target, dimension, flow, parameter count), or the message that\n"
    "names the file, line and key at fault.\n"
    "\n"
    "options:\n"
    "  CONFIG                 the configuration to check\n"
    "  --set section.key=value\n"
    "                         override a key of CONFIG (repeatable)\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow check configs/u1_reverse_path.cfg --set flow.layers=8\n";

static const char SAMPLE[] =
    "usage: pathflow sample RUN|CKPT -o FILE.npy [-n N] [--seed S] [--set target.key=value]\n"
    "\n"
    "Draws N samples from a trained flow and writes them as an (N, d) float64 .npy, and\n"
    "their log importance weights log w = -S(x) - log q(x) as (N,) in FILE_log_weights.npy.\n"
    "\n"
    "options:\n"
    "  RUN|CKPT               a run directory, or a checkpoint file with the run's\n"
    "                         config.cfg beside it\n"
    "  -o FILE.npy            the output file (required)\n"
    "  -n N                   samples (default 10000)\n"
    "  --seed S               random seed (default 1)\n"
    "  --set target.key=value another target for the trained flow (repeatable), e.g.\n"
    "                         --set target.lattice=[16,16]: flows whose parameters do not\n"
    "                         depend on the lattice size (the CNF lattice field) sample\n"
    "                         another lattice; other flows are refused with a message\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow sample runs/demo -n 50000 -o draws.npy   # and draws_log_weights.npy\n";

static const char EVAL[] =
    "usage: pathflow eval RUN|CKPT [-n N] [--seed S] [--blocks K] [--format text|csv|json]\n"
    "                     [--set target.key=value ...]\n"
    "\n"
    "Diagnoses a trained flow as a sampler of its target on N fresh samples: the reverse\n"
    "effective sample size; the target's summaries by self-normalised importance\n"
    "reweighting with jackknife errors; the per-sample observables along an independence\n"
    "Metropolis chain (proposal: the flow) with the acceptance rate, integrated\n"
    "autocorrelation times and errors. For lattice targets it redraws observables.png\n"
    "(and observables.gp, observables_plot.dat) in the run directory.\n"
    "\n"
    "options:\n"
    "  RUN|CKPT               a run directory, or a checkpoint file with config.cfg beside it\n"
    "  -n N                   flow samples, N >= 10 (default 10000)\n"
    "  --seed S               random seed (default 2)\n"
    "  --set target.key=value another target for the trained flow (repeatable), e.g.\n"
    "                         --set target.lattice=[16,16]: flows whose parameters do not\n"
    "                         depend on the lattice size (the CNF lattice field) sample\n"
    "                         another lattice; other flows are refused with a message\n"
    "  --blocks K             jackknife blocks, 2 <= K <= N (default 20)\n"
    "  --format F             text (default: Markdown tables), csv (one row per figure:\n"
    "                         section,name,value,error,tau_int) or json (one object)\n"
    "  -h, --help             this help\n"
    "\n"
    "examples:\n"
    "  pathflow eval runs/demo -n 20000\n"
    "  pathflow eval runs/demo --format json > demo_eval.json\n";

static const char EXPORT[] =
    "usage: pathflow export RUN|CKPT -o PARAMS.npy\n"
    "\n"
    "Writes a trained flow's parameters as a 1-D float64 .npy in the flow's flat layout\n"
    "(docs/formats.md, \"Parameter layout\"), for use by other tools (NumPy, PyTorch).\n"
    "\n"
    "options:\n"
    "  RUN|CKPT               a run directory, or a checkpoint file with config.cfg beside it\n"
    "  -o PARAMS.npy          the output file (required)\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow export runs/demo -o demo_params.npy\n"
    "  python3 -c \"import numpy; print(numpy.load('demo_params.npy').shape)\"\n";

static const char BENCH[] =
    "usage: pathflow bench [--quick] [--out DIR] [--case TEXT] [--rounds N] [--threads N]\n"
    "                      [--simd scalar|avx2|avx512]\n"
    "       mpirun -np N pathflow bench --mpi [--quick] [--out DIR]\n"
    "\n"
    "Measures the wall time of one gradient step of every estimator on every flow kind,\n"
    "interleaved so that machine drift cancels, with ratios to the standard estimator\n"
    "(total for reverse KL, ml for forward KL), GEMM rates and peak memory. A ratio\n"
    "whose median and minimum times differ by more than 2x is marked noisy. Markdown\n"
    "tables on standard output; bench.csv, bench_ratios.dat, bench.gp and bench.png\n"
    "in DIR.\n"
    "\n"
    "options:\n"
    "  --quick                fewer and smaller cases, fewer rounds (about a minute)\n"
    "  --out DIR              where the files go (default runs/bench)\n"
    "  --case TEXT            only the cases whose name contains TEXT (e.g. --case U(1))\n"
    "  --rounds N             interleaved rounds per case, 1..60 (default 10, --quick 3)\n"
    "  --threads N            the most BLAS threads a product may use (default: OpenBLAS's\n"
    "                         count, i.e. OPENBLAS_NUM_THREADS or the cores); products\n"
    "                         below 4e6 flops run on one thread, larger ones on all\n"
    "  --simd KIND            the activations' vector kernels: scalar, avx2 or avx512\n"
    "                         (default: the best the processor has)\n"
    "  --mpi                  under mpirun: strong scaling of one training step on N\n"
    "                         processes against one, and a weak-scaling model;\n"
    "                         mpi_scaling.csv in DIR\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow bench --quick --out runs/bench\n";

static const char VARIANCE[] =
    "usage: pathflow variance CONFIG [--checkpoint F] [--samples N] [--steps S] [--every K]\n"
    "                         [--agreement G] [--out DIR] [--set section.key=value ...]\n"
    "\n"
    "Gradient variance of the three estimators of CONFIG's objective: the trace of the\n"
    "covariance of single-sample gradients at fixed parameters (and of batch means), first\n"
    "at the starting parameters, then every K steps of a training run of CONFIG's own\n"
    "estimator. Shows 'sticking the landing': the path estimators' variance falls towards\n"
    "zero as the flow approaches the target, the standard one's does not. The three\n"
    "estimators see the same samples: flow samples for reverse KL; for forward KL rows\n"
    "of CONFIG's training data (data.file, or the set drawn once), else fresh exact\n"
    "samples of the target. Markdown on standard output; variance.csv, variance.gp and\n"
    "variance.png in DIR.\n"
    "\n"
    "options:\n"
    "  CONFIG                 the configuration\n"
    "  --checkpoint F         start from the parameters in checkpoint F\n"
    "  --samples N            single-sample gradients per point, N > 1 (default 500)\n"
    "  --steps S              training steps (default: CONFIG's training.steps)\n"
    "  --every K              measure every K steps (default 100)\n"
    "  --agreement G          also test that path and path-dropin have the standard\n"
    "                         estimator's mean: Hotelling's T² of their differences on G\n"
    "                         training batches (G >= 128), projected onto 32 random\n"
    "                         directions. F near 1: they agree; an F that grows in\n"
    "                         proportion to G: they do not, which for forward KL on data\n"
    "                         means the data are not samples of the target. Heavy-tailed\n"
    "                         gradients alone can give F up to about 2: compare G and 4G.\n"
    "                         Batches are drawn with replacement: keep G x batch well below\n"
    "                         the data's rows, or the file's own sampling noise is tested\n"
    "  --out DIR              where the files go (default runs/variance)\n"
    "  --set section.key=value\n"
    "                         override a key of CONFIG (repeatable)\n"
    "  -h, --help             this help\n"
    "\n"
    "example:\n"
    "  pathflow variance configs/quickstart.cfg --steps 600 --every 100\n";

static const char MAIN[] =
    "usage: pathflow COMMAND [options]      pathflow COMMAND --help: the command's options\n"
    "\n"
    "commands:\n"
    "  train CONFIG [--set key=value ...] [--out DIR] [--stop-at N] [--init-from RUN|CKPT]\n"
    "  train --resume RUN [--set key=value ...] [--stop-at N]\n"
    "                      train a flow as CONFIG describes (keys: docs/config.md); writes\n"
    "                      config.cfg, metrics.csv, checkpoint.pfc, samples, plots\n"
    "  hmc CONFIG -o FILE.npy [-n N] [--step E] [--leapfrog K] [--thermalize T] [--thin S]\n"
    "      [--seed SEED] [--set key=value ...]\n"
    "                      reference samples of CONFIG's target by Hybrid Monte Carlo\n"
    "  check CONFIG [--set key=value ...]\n"
    "                      validate a configuration and build it, without training\n"
    "  sample RUN|CKPT -o FILE.npy [-n N] [--seed S]\n"
    "                      flow samples and their log weights as .npy\n"
    "  eval RUN|CKPT [-n N] [--seed S] [--blocks K] [--format text|csv|json]\n"
    "                      ESS, reweighted summaries (jackknife errors), an independence\n"
    "                      Metropolis chain (acceptance, tau_int, errors)\n"
    "  export RUN|CKPT -o PARAMS.npy\n"
    "                      a trained flow's parameters as a flat float64 .npy\n"
    "  bench [--quick] [--out DIR]\n"
    "  bench --mpi [--quick] [--out DIR]   (under mpirun)\n"
    "                      cost of every estimator on every flow kind; MPI scaling\n"
    "  variance CONFIG [--checkpoint F] [--samples N] [--steps S] [--every K] [--out DIR]\n"
    "      [--set key=value ...]\n"
    "                      gradient variance of the estimators over training\n"
    "\n"
    "options:\n"
    "  -h, --help          this help\n"
    "  --version           the library version\n"
    "\n"
    "documentation: README.md, docs/config.md (configuration keys), docs/formats.md\n"
    "(files), docs/estimators.md, docs/theory.md\n";

static const struct {
    const char *command, *text;
} TEXTS[] = {{"train", TRAIN},   {"hmc", HMC},     {"check", CHECK},
             {"sample", SAMPLE}, {"eval", EVAL},   {"export", EXPORT},
             {"bench", BENCH},   {"variance", VARIANCE}};

int pf_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int pf_cli_help(const char *command, FILE *out)
{
    if (!command) {
        fputs(MAIN, out);
        fputs(EXIT_CODES, out);
        return 0;
    }
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++)
        if (strcmp(command, TEXTS[i].command) == 0) {
            fputs(TEXTS[i].text, out);
            fputs(EXIT_CODES, out);
            return 0;
        }
    fprintf(stderr, "pathflow: no help for '%s'\n", command);
    return 2;
}
