/* The training time a resumed run had already spent, from its metrics.csv:
 * the `seconds` cell of the last row at or before the checkpoint's step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment_impl.h"

/* The index of column `name` in a CSV header line, or -1. */
static int column_of(const char *header, const char *name)
{
    const size_t len = strlen(name);
    int col = 0;
    for (const char *p = header;; col++) {
        size_t cell = strcspn(p, ",\r\n");
        if (cell == len && strncmp(p, name, len) == 0)
            return col;
        if (p[cell] != ',')
            return -1;
        p += cell + 1;
    }
}

/* Cell `col` of a CSV line as a number; 0 if the cell is missing or empty. */
static double cell_of(const char *line, int col)
{
    const char *p = line;
    for (int c = 0; c < col; c++) {
        p = strchr(p, ',');
        if (!p)
            return 0;
        p++;
    }
    return strtod(p, NULL);
}

double pf_run_elapsed_seconds(const char *dir, long step)
{
    char path[4400], line[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    double seconds = 0;
    const int col = fgets(line, sizeof line, f) ? column_of(line, "seconds") : -1;
    while (col >= 0 && fgets(line, sizeof line, f)) {
        char *end;
        long row_step = strtol(line, &end, 10);
        if (end == line || *end != ',' || row_step > step)
            continue;
        seconds = cell_of(line, col);
    }
    fclose(f);
    return seconds;
}
