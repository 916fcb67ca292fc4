/* Checkpoints: a small documented binary format, written atomically.
 *
 *   offset  field
 *   0       magic "PFCKPT\0\1" (8 bytes)
 *   8       u32 version (3)
 *   12      u32 L: length of the flow description
 *   16      L bytes: pf_flow_describe() text (no terminator)
 *   16+L    u64 n_params, i64 step, i64 adam_t, i64 skipped, u64 settings hash,
 *           f64 loss sum, f64 gradient-norm sum, i64 steps in them (the metrics
 *           row being accumulated), f64 nfe forward, f64 nfe backward,
 *           i64 BLAS threads (0: unknown)
 *   104+L   n_params doubles θ, then Adam m, then Adam v
 *   end−8   u64 FNV-1a hash of every byte before it
 * Versions 1 and 2 (read, not written) end the fixed fields after the skipped
 * count (1) or the settings hash (2), and seed their checksum with the
 * mistaken basis PF_FNV1A_LEGACY_INIT.
 * All integers and doubles little-endian (the native order of supported hosts). */
#include <pathflow/train.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/linalg.h"
#include "train/trainer_impl.h"

static const char MAGIC[8] = {'P', 'F', 'C', 'K', 'P', 'T', '\0', '\1'};
#define CHECKPOINT_VERSION 3u

static uint64_t checksum(uint32_t version, const unsigned char *p, size_t n)
{
    return pf_fnv1a(version >= 3 ? PF_FNV1A_INIT : PF_FNV1A_LEGACY_INIT, p, n);
}

typedef struct checkpoint_view {
    uint32_t version;
    const char *description;
    uint32_t description_len;
    uint64_t n_params;
    int64_t step, adam_t, skipped;
    uint64_t settings_hash; /* 0 in version 1 files */
    /* version 3 (0 in older files): the metrics row in progress, CNF counts */
    double loss_sum, grad_norm_sum;
    int64_t rows_steps;
    double nfe_forward, nfe_backward;
    int64_t blas_threads;
    const double *params, *m, *v;
} checkpoint_view;

/* Bytes of the fixed fields after the description. */
static size_t fields_size(uint32_t version)
{
    return version >= 3 ? 88 : version == 2 ? 40 : 32;
}

/* In size_t from the first term: 16 + L in 32 bits wrapped for L near 2³²
 * and let a hostile description length through (found by fuzzing). */
static size_t checkpoint_size(uint32_t version, uint32_t L, uint64_t n)
{
    return (size_t)16 + (size_t)L + fields_size(version) + 3 * (size_t)n * 8 + 8;
}

/* Serialises into a malloc'ed buffer of checkpoint_size bytes. */
static unsigned char *serialise(const checkpoint_view *c, size_t *size)
{
    *size = checkpoint_size(CHECKPOINT_VERSION, c->description_len, c->n_params);
    unsigned char *buf = malloc(*size), *p = buf;
    if (!buf)
        return NULL;
    uint32_t version = CHECKPOINT_VERSION;
    memcpy(p, MAGIC, 8);
    memcpy(p + 8, &version, 4);
    memcpy(p + 12, &c->description_len, 4);
    memcpy(p + 16, c->description, c->description_len);
    p += 16 + c->description_len;
    memcpy(p, &c->n_params, 8);
    memcpy(p + 8, &c->step, 8);
    memcpy(p + 16, &c->adam_t, 8);
    memcpy(p + 24, &c->skipped, 8);
    memcpy(p + 32, &c->settings_hash, 8);
    memcpy(p + 40, &c->loss_sum, 8);
    memcpy(p + 48, &c->grad_norm_sum, 8);
    memcpy(p + 56, &c->rows_steps, 8);
    memcpy(p + 64, &c->nfe_forward, 8);
    memcpy(p + 72, &c->nfe_backward, 8);
    memcpy(p + 80, &c->blas_threads, 8);
    p += fields_size(CHECKPOINT_VERSION);
    size_t bytes = c->n_params * sizeof(double);
    memcpy(p, c->params, bytes);
    memcpy(p + bytes, c->m, bytes);
    memcpy(p + 2 * bytes, c->v, bytes);
    uint64_t hash = checksum(CHECKPOINT_VERSION, buf, *size - 8);
    memcpy(buf + *size - 8, &hash, 8);
    return buf;
}

static pf_status write_atomically(const char *path, const unsigned char *buf, size_t size)
{
    char tmp[4200];
    FILE *f = pf_atomic_open(path, tmp, sizeof tmp);
    if (!f)
        return PF_ERR_IO;
    return pf_atomic_commit(f, tmp, path, fwrite(buf, 1, size, f) == size);
}

pf_status pf_trainer_save(pf_trainer *t, const char *path)
{
    double *m, *v;
    long *adam_t;
    pf_adam_state(t->adam, &m, &v, &adam_t);
    const char *desc = pf_flow_describe(t->flow);
    checkpoint_view c;
    memset(&c, 0, sizeof c);
    c.description = desc;
    c.description_len = (uint32_t)strlen(desc);
    c.n_params = t->n_params;
    c.step = t->step;
    c.adam_t = *adam_t;
    c.skipped = t->skipped;
    c.settings_hash = t->options.settings_hash;
    c.loss_sum = t->loss_sum;
    c.grad_norm_sum = t->grad_norm_sum;
    c.rows_steps = t->rows_steps;
    c.nfe_forward = t->nfe_forward;
    c.nfe_backward = t->nfe_backward;
    c.blas_threads = pf_blas_threads();
    c.params = pf_flow_params(t->flow);
    c.m = m;
    c.v = v;
    size_t size;
    unsigned char *buf = serialise(&c, &size);
    if (!buf)
        return pf_fail(PF_ERR_NOMEM, "%s: cannot allocate checkpoint buffer", path);
    pf_status st = write_atomically(path, buf, size);
    free(buf);
    return st;
}

static pf_status read_file(const char *path, unsigned char **buf, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pf_fail(PF_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    long len = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return pf_fail(PF_ERR_IO, "%s: cannot read checkpoint size", path);
    }
    *buf = malloc((size_t)len + 1);
    *size = (size_t)len;
    int ok = *buf && fread(*buf, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    if (!ok) {
        free(*buf);
        *buf = NULL;
        return pf_fail(PF_ERR_IO, "%s: cannot read checkpoint", path);
    }
    return PF_OK;
}

/* The first non-finite (or, with nonneg, negative) of n values, or -1; x
 * may be misaligned (it follows a description of any length): memcpy, not a
 * double load (found by fuzzing under UBSan). */
static long first_bad(const double *x, uint64_t n, int nonneg)
{
    for (uint64_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, (const unsigned char *)x + 8 * i, sizeof v);
        if (!isfinite(v) || (nonneg && v < 0))
            return (long)i;
    }
    return -1;
}

/* Once the checksum matched: values a trainer could have written. A file
 * can still be forged (the checksum is not a signature), and a diverged run
 * must not pass its NaN parameters on. */
static pf_status check_ranges(const char *path, const checkpoint_view *c)
{
    if (c->step < 0 || c->adam_t < 0 || c->adam_t > c->step || c->skipped < 0 ||
        c->skipped > c->step)
        return pf_fail(PF_ERR_FORMAT,
                       "%s: step: %lld steps, %lld Adam steps, %lld skipped is impossible "
                       "(need 0 <= Adam steps, skipped <= steps)",
                       path, (long long)c->step, (long long)c->adam_t, (long long)c->skipped);
    if (c->rows_steps < 0 || c->rows_steps > c->step || !isfinite(c->loss_sum) ||
        !isfinite(c->grad_norm_sum) || !(c->nfe_forward >= 0) || !(c->nfe_backward >= 0) ||
        !isfinite(c->nfe_forward) || !isfinite(c->nfe_backward) || c->blas_threads < 0)
        return pf_fail(PF_ERR_FORMAT, "%s: metrics: the accumulated metrics are out of range",
                       path);
    const struct {
        const char *name;
        const double *x;
        int nonneg;
    } arrays[] = {{"parameters", c->params, 0}, {"adam_m", c->m, 0}, {"adam_v", c->v, 1}};
    for (int k = 0; k < 3; k++) {
        long i = first_bad(arrays[k].x, c->n_params, arrays[k].nonneg);
        if (i >= 0) {
            double v;
            memcpy(&v, (const unsigned char *)arrays[k].x + 8 * (size_t)i, sizeof v);
            return pf_fail(PF_ERR_FORMAT,
                           "%s: %s: value %ld is %g (the run diverged or the file is forged; "
                           "a non-finite checkpoint is never loaded)",
                           path, arrays[k].name, i, v);
        }
    }
    return PF_OK;
}

/* Validates magic, version, sizes, checksum and ranges; fills a view into buf. */
static pf_status parse(const char *path, const unsigned char *buf, size_t size, checkpoint_view *c)
{
    uint32_t version;
    if (size < 16 || memcmp(buf, MAGIC, 8) != 0)
        return pf_fail(PF_ERR_FORMAT, "%s: magic: not a pathflow checkpoint", path);
    memcpy(&version, buf + 8, 4);
    if (version < 1 || version > CHECKPOINT_VERSION)
        return pf_fail(PF_ERR_FORMAT, "%s: version: %u, this build reads versions 1 to %u", path,
                       version, CHECKPOINT_VERSION);
    memcpy(&c->description_len, buf + 12, 4);
    if (size < checkpoint_size(version, c->description_len, 0))
        return pf_fail(PF_ERR_FORMAT, "%s: header: truncated (%zu bytes)", path, size);
    const unsigned char *p = buf + 16 + c->description_len;
    memcpy(&c->n_params, p, 8);
    memcpy(&c->step, p + 8, 8);
    memcpy(&c->adam_t, p + 16, 8);
    memcpy(&c->skipped, p + 24, 8);
    c->version = version;
    c->settings_hash = 0;
    c->loss_sum = c->grad_norm_sum = c->nfe_forward = c->nfe_backward = 0;
    c->rows_steps = c->blas_threads = 0;
    if (version >= 2)
        memcpy(&c->settings_hash, p + 32, 8);
    if (version >= 3) {
        memcpy(&c->loss_sum, p + 40, 8);
        memcpy(&c->grad_norm_sum, p + 48, 8);
        memcpy(&c->rows_steps, p + 56, 8);
        memcpy(&c->nfe_forward, p + 64, 8);
        memcpy(&c->nfe_backward, p + 72, 8);
        memcpy(&c->blas_threads, p + 80, 8);
    }
    if (c->n_params > (size - checkpoint_size(version, c->description_len, 0)) / 24 ||
        size != checkpoint_size(version, c->description_len, c->n_params))
        return pf_fail(PF_ERR_FORMAT,
                       "%s: n_params: %llu parameters do not fit the file's %zu bytes "
                       "(truncated or corrupt)",
                       path, (unsigned long long)c->n_params, size);
    uint64_t stored;
    memcpy(&stored, buf + size - 8, 8);
    if (stored != checksum(version, buf, size - 8))
        return pf_fail(PF_ERR_FORMAT, "%s: checksum: mismatch, the file is corrupt", path);
    c->description = (const char *)buf + 16;
    c->params = (const double *)(const void *)(p + fields_size(version));
    c->m = c->params + c->n_params;
    c->v = c->m + c->n_params;
    return check_ranges(path, c);
}

/* At most size - 1 bytes of text as printable ASCII: other bytes as \xNN,
 * and "..." when cut (a file's text must not reach a terminal raw). */
static void escape(const char *text, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)text[i];
        if (o + 8 > size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

/* The checkpoint must hold the same architecture as `flow`. */
static pf_status check_matches(const char *path, const checkpoint_view *c, const pf_flow *flow)
{
    const char *desc = pf_flow_describe(flow);
    if (strlen(desc) != c->description_len || memcmp(desc, c->description, c->description_len)) {
        char held[512];
        escape(c->description, c->description_len, held, sizeof held);
        return pf_fail(PF_ERR_FORMAT, "%s: flow: checkpoint holds '%s', this flow is '%s'", path,
                       held, desc);
    }
    if (c->n_params != pf_flow_n_params(flow))
        return pf_fail(PF_ERR_FORMAT, "%s: n_params: checkpoint has %llu, flow has %zu", path,
                       (unsigned long long)c->n_params, pf_flow_n_params(flow));
    return PF_OK;
}

static pf_status load_view(const char *path, const pf_flow *flow, unsigned char **buf,
                           checkpoint_view *c)
{
    size_t size = 0;
    PF_TRY(read_file(path, buf, &size));
    pf_status st = parse(path, *buf, size, c);
    if (st == PF_OK)
        st = check_matches(path, c, flow);
    if (st != PF_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

pf_status pf_flow_load_checkpoint(pf_flow *flow, const char *path)
{
    unsigned char *buf;
    checkpoint_view c;
    PF_TRY(load_view(path, flow, &buf, &c));
    memcpy(pf_flow_params(flow), c.params, c.n_params * sizeof(double));
    free(buf);
    return PF_OK;
}

pf_status pf_trainer_load(pf_trainer *t, const char *path)
{
    unsigned char *buf;
    checkpoint_view c;
    PF_TRY(load_view(path, t->flow, &buf, &c));
    const uint64_t want = t->options.settings_hash;
    if (want && c.settings_hash && want != c.settings_hash) {
        free(buf);
        return pf_fail(PF_ERR_FORMAT,
                       "%s: settings: written under settings %016llx, this run's hash to %016llx "
                       "(a key that shapes training changed since; resuming would not continue "
                       "the same run)",
                       path, (unsigned long long)c.settings_hash, (unsigned long long)want);
    }
    double *m, *v;
    long *adam_t;
    pf_adam_state(t->adam, &m, &v, &adam_t);
    size_t bytes = c.n_params * sizeof(double);
    memcpy(pf_flow_params(t->flow), c.params, bytes);
    memcpy(m, c.m, bytes);
    memcpy(v, c.v, bytes);
    *adam_t = (long)c.adam_t;
    t->step = (long)c.step;
    t->skipped = (long)c.skipped;
    t->nonfinite_run = 0;
    t->loss_sum = c.loss_sum;
    t->grad_norm_sum = c.grad_norm_sum;
    t->rows_steps = (long)c.rows_steps;
    t->nfe_forward = c.nfe_forward;
    t->nfe_backward = c.nfe_backward;
    free(buf);
    return PF_OK;
}

pf_status pf_checkpoint_blas_threads(const char *path, long *threads)
{
    unsigned char *buf = NULL;
    size_t size = 0;
    checkpoint_view c;
    PF_TRY(read_file(path, &buf, &size));
    pf_status st = parse(path, buf, size, &c);
    *threads = st == PF_OK ? (long)c.blas_threads : 0;
    free(buf);
    return st;
}
