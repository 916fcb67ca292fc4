/* Internal: files written atomically — to "<path>.tmp.<pid>", flushed and
 * fsync'ed, then renamed over <path> — so a crash never leaves a half-written
 * checkpoint, sample file or configuration behind. */
#ifndef PF_CORE_ATOMIC_FILE_H
#define PF_CORE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include <pathflow/pathflow.h>

/* Opens the temporary file for `path`; its name goes to tmp (tmp_size bytes).
 * NULL with a message naming the file on failure. */
FILE *pf_atomic_open(const char *path, char *tmp, size_t tmp_size);

/* Finishes a file from pf_atomic_open: if `ok` and flushing, syncing and
 * closing succeed, renames tmp over path; otherwise removes tmp and fails
 * with PF_ERR_IO naming `path`. */
pf_status pf_atomic_commit(FILE *f, const char *tmp, const char *path, int ok);

#endif
