/* influence — RCAV sensitivities by the closed form, p-values, significance,
 * Table 8 statistics and S³ (see influence.h). */
#include "influence.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int influence_eval_init(influence_eval *ev, const double *logits, const int32_t *labels, size_t n_img,
                        int n_cls)
{
    memset(ev, 0, sizeof *ev);
    ev->probs = malloc(n_img * n_cls * sizeof *ev->probs);
    ev->labels = malloc(n_img * sizeof *ev->labels);
    ev->class_count = calloc(n_cls, sizeof *ev->class_count);
    if (!ev->probs || !ev->labels || !ev->class_count) {
        influence_eval_free(ev);
        return -1;
    }
    ev->n_img = n_img;
    ev->n_cls = n_cls;
    memcpy(ev->labels, labels, n_img * sizeof *labels);
    for (size_t i = 0; i < n_img; i++) {
        const double *l = logits + i * n_cls;
        double *q = ev->probs + i * n_cls, top = l[0], sum = 0;
        for (int k = 1; k < n_cls; k++)
            top = l[k] > top ? l[k] : top;
        for (int k = 0; k < n_cls; k++)
            sum += q[k] = exp(l[k] - top);
        for (int k = 0; k < n_cls; k++)
            q[k] /= sum;
        ev->class_count[labels[i]]++;
    }
    return 0;
}

void influence_eval_free(influence_eval *ev)
{
    free(ev->probs);
    free(ev->labels);
    free(ev->class_count);
    memset(ev, 0, sizeof *ev);
}

int influence_eval_empty_class(const influence_eval *ev)
{
    for (int k = 0; k < ev->n_cls; k++)
        if (!ev->class_count[k])
            return k;
    return -1;
}

int influence_logit_shift(const double *weight, int n_cls, int n_dim, const double *v, double step,
                          double pixel_scale, double *delta)
{
    double norm = 0;
    for (int d = 0; d < n_dim; d++)
        norm += v[d] * v[d];
    norm = sqrt(norm);
    if (!(norm > 0)) {
        for (int k = 0; k < n_cls; k++)
            delta[k] = 0;
        return 1;
    }
    double scale = step * pixel_scale / norm;
    for (int k = 0; k < n_cls; k++) {
        const double *w = weight + (size_t)k * n_dim;
        double s = 0;
        for (int d = 0; d < n_dim; d++)
            s += w[d] * v[d];
        delta[k] = scale * s;
    }
    return 0;
}

/* E row [n_cls] ← expm1(δ − c), c = 0 unless max δ > INFLUENCE_EXP_LIMIT. */
static void shifted_expm1(const double *delta, int n_cls, double *e)
{
    double top = delta[0];
    for (int k = 1; k < n_cls; k++)
        top = delta[k] > top ? delta[k] : top;
    double c = top > INFLUENCE_EXP_LIMIT ? top : 0;
    for (int k = 0; k < n_cls; k++)
        e[k] = expm1(delta[k] - c);
}

int influence_sensitivity(const influence_eval *ev, const double *weight, int n_dim, const double *V,
                          size_t n_dir, double step, double pixel_scale, double *SC)
{
    int n_cls = ev->n_cls;
    size_t block = ev->n_img < INFLUENCE_IMAGE_BLOCK ? ev->n_img : INFLUENCE_IMAGE_BLOCK;
    double *E = malloc(n_dir * n_cls * sizeof *E), *delta = malloc(n_cls * sizeof *delta);
    double *G = malloc(block * n_dir * sizeof *G);
    size_t *count = calloc(n_dir * n_cls, sizeof *count);
    char *zero = malloc(n_dir);
    if (!E || !delta || !G || !count || !zero) {
        free(E); free(delta); free(G); free(count); free(zero);
        return -1;
    }
    for (size_t r = 0; r < n_dir; r++) {
        zero[r] = (char)influence_logit_shift(weight, n_cls, n_dim, V + r * n_dim, step, pixel_scale, delta);
        shifted_expm1(delta, n_cls, E + r * n_cls);
    }
    for (size_t img0 = 0; img0 < ev->n_img; img0 += block) {
        size_t n = ev->n_img - img0 < block ? ev->n_img - img0 : block;
        /* G [n × n_dir] = probs rows · Eᵀ: Σ_j q_j expm1(δ_j − c) per image and direction */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n_dir, n_cls, 1.0,
                    ev->probs + img0 * n_cls, n_cls, E, n_cls, 0.0, G, (int)n_dir);
        for (size_t i = 0; i < n; i++) {
            int k = ev->labels[img0 + i];
            const double *g = G + i * n_dir;
            for (size_t r = 0; r < n_dir; r++)
                count[r * n_cls + k] += g[r] <= E[r * n_cls + k];
        }
    }
    for (size_t r = 0; r < n_dir; r++)
        for (int k = 0; k < n_cls; k++)
            SC[r * n_cls + k] = zero[r] ? 0.0
                                        : 2.0 * (double)count[r * n_cls + k] / (double)ev->class_count[k] - 1.0;
    free(E); free(delta); free(G); free(count); free(zero);
    return 0;
}

void influence_pvalues(const double *SC, const double *SC_noise, const int *alive, int n_noise, int n_cls,
                       double *p)
{
    int n_alive = 0;
    for (int n = 0; n < n_noise; n++)
        n_alive += !alive || alive[n];
    for (int k = 0; k < n_cls; k++) {
        long hits = 0;
        for (int n = 0; n < n_noise; n++)
            hits += (!alive || alive[n]) && fabs(SC_noise[(size_t)n * n_cls + k]) >= fabs(SC[k]);
        p[k] = n_alive ? (double)hits / n_alive : NAN;
    }
}

double influence_threshold(double level, size_t n_tests)
{
    return level / (double)n_tests;
}

int influence_statistics(const double *SC, const int32_t *significant, int n_det, int n_cls,
                         influence_stats *st)
{
    memset(st, 0, sizeof *st);
    long *cls_pos = calloc(n_cls ? n_cls : 1, sizeof *cls_pos), *cls_neg = calloc(n_cls ? n_cls : 1, sizeof *cls_neg);
    if (!cls_pos || !cls_neg) {
        free(cls_pos);
        free(cls_neg);
        return -1;
    }
    long total_pos = 0, total_neg = 0;
    st->min_pos = st->min_neg = n_det > 0 ? n_cls : 0;
    for (int i = 0; i < n_det; i++) {
        long pos = 0, neg = 0, sig = 0;
        for (int k = 0; k < n_cls; k++) {
            size_t at = (size_t)i * n_cls + k;
            if (!significant[at] || SC[at] == 0)
                continue;
            sig++;
            if (SC[at] > 0) {
                pos++;
                cls_pos[k]++;
            } else {
                neg++;
                cls_neg[k]++;
            }
        }
        st->sdc += sig > 0;
        st->scdp += sig;
        st->dir_pos += pos > 0;
        st->dir_neg += neg > 0;
        total_pos += pos;
        total_neg += neg;
        st->min_pos = pos < st->min_pos ? pos : st->min_pos;
        st->max_pos = pos > st->max_pos ? pos : st->max_pos;
        st->min_neg = neg < st->min_neg ? neg : st->min_neg;
        st->max_neg = neg > st->max_neg ? neg : st->max_neg;
    }
    st->pos_per_class = n_cls ? (double)total_pos / n_cls : 0;
    st->neg_per_class = n_cls ? (double)total_neg / n_cls : 0;
    for (int k = 0; k < n_cls; k++) {
        st->cls_pos += cls_pos[k] >= 1;
        st->cls_neg += cls_neg[k] >= 1;
    }
    free(cls_pos);
    free(cls_neg);
    return 0;
}

double influence_s3(const int32_t *label, const double *SC, int n_det, const int *pcav_row, int n_labels,
                    const double *SC_pcav, int n_cls, double theta, long *n_pairs)
{
    long pairs = 0, hits = 0;
    for (int l = 0; l < n_labels; l++) {
        if (pcav_row[l] < 0)
            continue;
        long members = 0;
        for (int j = 0; j < n_det; j++)
            members += label[j] == l;
        if (!members)
            continue;
        const double *sp = SC_pcav + (size_t)pcav_row[l] * n_cls;
        for (int k = 0; k < n_cls; k++) {
            long at_least = 0;
            for (int j = 0; j < n_det; j++)
                at_least += label[j] == l && fabs(SC[(size_t)j * n_cls + k]) >= fabs(sp[k]);
            double p = (double)at_least / members;
            hits += p < theta / members;
            pairs++;
        }
    }
    *n_pairs = pairs;
    return pairs ? (double)hits / pairs : NAN;
}
