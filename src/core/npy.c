/* NumPy .npy files: little-endian float64, C order.
 * Format: magic "\x93NUMPY", version (major, minor), header length (2 bytes
 * in 1.0, 4 bytes in 2.0/3.0), then a Python dict literal
 * {'descr': '<f8', 'fortran_order': False, 'shape': (B, d), } padded with
 * spaces and a newline so that the data starts at a multiple of 64 bytes. */
#include "core/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"

static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static size_t shape_product(int ndim, const size_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

pf_status pf_npy_write(const char *path, int ndim, const size_t *shape, const double *data)
{
    if (ndim < 0 || ndim > PF_NPY_MAX_DIMS)
        return pf_fail(PF_ERR_ARG, "%s: cannot write %d dimensions (at most %d)", path, ndim,
                       PF_NPY_MAX_DIMS);
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
    /* Python's tuple repr, as NumPy writes it: (3,) and (2, 3). */
    for (int i = 0; i < ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%zu%s", shape[i],
                        ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t total = 10 + (size_t)len + 1; /* magic, version, u16 length, dict, '\n' */
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;

    char tmp[4200];
    FILE *f = pf_atomic_open(path, tmp, sizeof tmp);
    if (!f)
        return PF_ERR_IO;
    unsigned char pre[10];
    memcpy(pre, MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(header_len & 0xff);
    pre[9] = (unsigned char)(header_len >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 10 + (size_t)len; ok && i < padded - 1; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t n = shape_product(ndim, shape);
    ok = ok && fwrite(data, sizeof(double), n, f) == n; /* x86-64 and arm64 are little-endian */
    return pf_atomic_commit(f, tmp, path, ok);
}

/* Finds 'key': in the header dict and returns a pointer just past the colon. */
static const char *dict_value(const char *dict, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (!p)
        return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static pf_status parse_header(const char *path, const char *dict, int *ndim, size_t *shape)
{
    const char *descr = dict_value(dict, "descr");
    if (!descr)
        return pf_fail(PF_ERR_FORMAT, "%s: header: no 'descr' field", path);
    if (strncmp(descr, "'<f8'", 5) != 0 && strncmp(descr, "'float64'", 9) != 0) {
        char got[16] = {0};
        sscanf(descr, "%15[^,}]", got);
        return pf_fail(PF_ERR_FORMAT, "%s: header: 'descr' is %s, expected '<f8' (float64)",
                       path, got);
    }
    const char *order = dict_value(dict, "fortran_order");
    if (!order)
        return pf_fail(PF_ERR_FORMAT, "%s: header: no 'fortran_order' field", path);
    if (strncmp(order, "False", 5) != 0)
        return pf_fail(PF_ERR_FORMAT, "%s: header: 'fortran_order' is not False (need C order)",
                       path);
    const char *p = dict_value(dict, "shape");
    if (!p || *p != '(')
        return pf_fail(PF_ERR_FORMAT, "%s: header: no 'shape' tuple", path);
    p++;
    *ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno != 0)
            return pf_fail(PF_ERR_FORMAT, "%s: header: 'shape' is not a tuple of integers",
                           path);
        if (*ndim == PF_NPY_MAX_DIMS)
            return pf_fail(PF_ERR_FORMAT, "%s: header: 'shape' has more than %d dimensions",
                           path, PF_NPY_MAX_DIMS);
        shape[(*ndim)++] = (size_t)v;
        p = end;
    }
    return PF_OK;
}

static pf_status read_prelude(FILE *f, const char *path, char **dict_out)
{
    unsigned char pre[12];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, MAGIC, 6) != 0)
        return pf_fail(PF_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    size_t header_len;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2)
            return pf_fail(PF_ERR_FORMAT, "%s: truncated header length", path);
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 8, 1, 4, f) != 4)
            return pf_fail(PF_ERR_FORMAT, "%s: truncated header length", path);
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
                     (size_t)pre[11] << 24;
    } else {
        return pf_fail(PF_ERR_FORMAT, "%s: unsupported .npy version %d", path, major);
    }
    if (header_len > (1u << 20))
        return pf_fail(PF_ERR_FORMAT, "%s: header length %zu is implausible", path, header_len);
    char *dict = malloc(header_len + 1);
    if (!dict)
        return pf_fail(PF_ERR_NOMEM, "%s: cannot allocate header", path);
    if (fread(dict, 1, header_len, f) != header_len) {
        free(dict);
        return pf_fail(PF_ERR_FORMAT, "%s: truncated header", path);
    }
    dict[header_len] = '\0';
    *dict_out = dict;
    return PF_OK;
}

pf_status pf_npy_read(const char *path, int *ndim, size_t shape[PF_NPY_MAX_DIMS], double **data)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pf_fail(PF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *dict = NULL;
    pf_status s = read_prelude(f, path, &dict);
    if (s == PF_OK)
        s = parse_header(path, dict, ndim, shape);
    free(dict);
    if (s != PF_OK) {
        fclose(f);
        return s;
    }
    /* The shape must fit the data actually present before anything is
     * allocated: a corrupt or hostile header cannot ask for terabytes
     * (found by fuzzing). */
    size_t n = 1;
    for (int i = 0; i < *ndim; i++) {
        if (shape[i] != 0 && n > SIZE_MAX / sizeof(double) / shape[i]) {
            fclose(f);
            return pf_fail(PF_ERR_FORMAT, "%s: header: 'shape' overflows", path);
        }
        n *= shape[i];
    }
    long here = ftell(f), end = -1;
    if (here >= 0 && fseek(f, 0, SEEK_END) == 0)
        end = ftell(f);
    if (end < 0 || fseek(f, here, SEEK_SET) != 0) {
        fclose(f);
        return pf_fail(PF_ERR_IO, "%s: cannot determine the file size", path);
    }
    size_t present = (size_t)(end - here) / sizeof(double);
    if (n > present) {
        fclose(f);
        return pf_fail(PF_ERR_FORMAT,
                       "%s: data: expected %zu values for the shape, found %zu", path, n,
                       present);
    }
    double *buf = malloc((n ? n : 1) * sizeof(double));
    if (!buf) {
        fclose(f);
        return pf_fail(PF_ERR_NOMEM, "%s: cannot allocate %zu doubles", path, n);
    }
    size_t got = fread(buf, sizeof(double), n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return pf_fail(PF_ERR_FORMAT, "%s: data: expected %zu values for the shape, found %zu",
                       path, n, got);
    }
    *data = buf;
    return PF_OK;
}
