/* synth — see synth.h. */
#include "synth.h"
#include "error.h"
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int synth_class_of(const synth_config *cfg, size_t index)
{
    return (int)(index / cfg->per_class);
}

void synth_image(const synth_config *cfg, uint64_t seed, uint64_t stream, size_t index,
                 float *features, int32_t *concept_map, float *alpha, float *beta)
{
    rng_state rng;
    rng_init(&rng, seed, (stream << 40) ^ (uint64_t)index);
    size_t hw = (size_t)cfg->height * cfg->width;
    int cls = synth_class_of(cfg, index);
    for (size_t p = 0; p < hw; p++) {
        int concept = cfg->class_concepts[(size_t)cls * hw + p];
        concept_map[p] = concept + 1;
        for (int i = 0; i < cfg->n_concepts; i++)
            alpha[i * hw + p] = (float)(i == concept ? rng_uniform_range(&rng, cfg->on_lo, cfg->on_hi)
                                                     : rng_uniform_range(&rng, cfg->off_lo, cfg->off_hi));
        for (int f = 0; f < cfg->n_distract; f++)
            beta[f * hw + p] = (float)rng_uniform_range(&rng, cfg->beta_lo, cfg->beta_hi);
        for (int d = 0; d < cfg->n_dim; d++) {
            double x = cfg->offset;
            for (int i = 0; i < cfg->n_concepts; i++)
                x += cfg->signals[(size_t)i * cfg->n_dim + d] * alpha[i * hw + p];
            for (int f = 0; f < cfg->n_distract; f++)
                x += cfg->distractors[(size_t)f * cfg->n_dim + d] * beta[f * hw + p];
            features[d * hw + p] = (float)x;
        }
    }
}

/* Printable ASCII, tabs, CR/LF and UTF-8 bytes (the header's "…" is fine);
 * control bytes mean a binary file, whose bytes must not reach a message. */
static int text_line(const char *line)
{
    for (const unsigned char *c = (const unsigned char *)line; *c; c++)
        if (*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r')
            return 0;
    return 1;
}

/* Table rows are dimensions, columns s0.. then d0..; the header names them. */
int synth_read_table(const char *path, double **signals, int *n_concepts,
                     double **distractors, int *n_distract, int *n_dim)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set(EX_NOINPUT, "%s: cannot open the direction table: %s", path, strerror(errno));
    char line[4096];
    int n_s = 0, n_d = 0, rows = 0, rc = 0;
    double values[64][16];
    int line_no = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        line_no++;
        if (!text_line(line)) {
            rc = error_set(EX_DATAERR, "%s: line %d is not text (a binary file?); expected a "
                           "tab-separated table of s… and d… columns", path, line_no);
            break;
        }
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *tok = strtok(line, "\t \n");
        if (!n_s && !n_d) { /* header: s… columns, then d… columns */
            for (; tok && !rc; tok = strtok(NULL, "\t \n")) {
                if (tok[0] == 's' && !n_d)
                    n_s++;
                else if (tok[0] == 'd')
                    n_d++;
                else
                    rc = error_set(EX_DATAERR, "%s: header column '%s': expected signal columns s… "
                                   "then distractor columns d…", path, tok);
            }
            if (!rc && n_s + n_d > 16)
                rc = error_set(EX_DATAERR, "%s: at most 16 columns", path);
            continue;
        }
        if (rows == 64) {
            rc = error_set(EX_DATAERR, "%s: more than 64 rows (dimensions)", path);
            break;
        }
        int col = 0;
        for (; tok && col < 16; tok = strtok(NULL, "\t \n"), col++) {
            char *end;
            values[rows][col] = strtod(tok, &end);
            if (*end)
                rc = error_set(EX_DATAERR, "%s: row %d: '%s' is not a number", path, rows + 1, tok);
        }
        if (!rc && col != n_s + n_d)
            rc = error_set(EX_DATAERR, "%s: row %d has %d columns, expected %d", path, rows + 1, col, n_s + n_d);
        rows++;
    }
    fclose(f);
    if (rc)
        return rc;
    if (rows == 0 || n_s == 0)
        return error_set(EX_DATAERR, "%s: no directions in the table", path);
    *n_dim = rows;
    *n_concepts = n_s;
    *n_distract = n_d;
    *signals = error_malloc(sizeof(double) * n_s * rows, "the signal directions");
    *distractors = error_malloc(sizeof(double) * n_d * rows, "the distractor directions");
    if (!*signals || !*distractors)
        return error_code();
    for (int d = 0; d < rows; d++) {
        for (int i = 0; i < n_s; i++)
            (*signals)[i * rows + d] = values[d][i];
        for (int j = 0; j < n_d; j++)
            (*distractors)[j * rows + d] = values[d][n_s + j];
    }
    return 0;
}

void synth_random_directions(uint64_t seed, uint64_t stream, int n, int n_dim, double *directions)
{
    rng_state rng;
    rng_init(&rng, seed, stream);
    for (int k = 0; k < n; k++) {
        double *row = directions + (size_t)k * n_dim, norm = 0;
        for (int d = 0; d < n_dim; d++) {
            row[d] = rng_normal(&rng);
            norm += row[d] * row[d];
        }
        for (int d = 0; d < n_dim; d++)
            row[d] /= sqrt(norm);
    }
}
