/* Atomic replacement of files: write a temporary, sync, rename. */
#include "core/atomic_file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

FILE *pf_atomic_open(const char *path, char *tmp, size_t tmp_size)
{
    if (snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid()) >= (int)tmp_size) {
        pf_fail(PF_ERR_ARG, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f)
        pf_fail(PF_ERR_IO, "%s: cannot open for writing: %s", tmp, strerror(errno));
    return f;
}

pf_status pf_atomic_commit(FILE *f, const char *tmp, const char *path, int ok)
{
    int err = 0;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (!ok)
        err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        remove(tmp);
        return pf_fail(PF_ERR_IO, "%s: write failed: %s", path, err ? strerror(err) : "short write");
    }
    return PF_OK;
}
