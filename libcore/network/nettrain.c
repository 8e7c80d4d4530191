/* nettrain — see nettrain.h. */
#include "nettrain.h"
#include "error.h"
#include "optim.h"
#include "rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* rng streams of this module (rng.h's enum names the shared ones) */
#define STREAM_ORDER ((uint64_t)RNG_STREAM_BATCH << 40)
#define STREAM_DROPOUT ((uint64_t)0x44524f50 << 24) /* "DROP" */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int count_correct(const float *logits, const int32_t *labels, int n, int k)
{
    int correct = 0;
    for (int img = 0; img < n; img++) {
        const float *row = logits + (size_t)img * k;
        int best = 0;
        for (int cls = 1; cls < k; cls++)
            if (row[cls] > row[best])
                best = cls;
        correct += best == labels[img];
    }
    return correct;
}

static void format_eta(double seconds, char *buf, size_t size)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
}

/* A batch is split into one shard of images per thread; each thread runs
 * the network on its shard with its own work space (the layers' OpenMP loops
 * and OpenBLAS then run serially inside it), and the shards' gradients are
 * summed in shard order. One parallel region per batch: the small layers of
 * this network cost less than the fork/join of a parallel region per layer. */
typedef struct {
    net_work_f ws;
    float *grads;        /* [n_params] this shard's gradient (mean over the shard) */
    uint8_t *keep;       /* drop masks of the shard */
    int32_t *labels;
    double loss;
    long correct;
} shard;

typedef struct {
    int n_shards;
    shard *shards;
    float *params_f;
    double *grads;
    size_t *order;
    adam_state adam;
} train_buffers;

static void buffers_free(train_buffers *b)
{
    for (int t = 0; b->shards && t < b->n_shards; t++) {
        net_work_free_f(&b->shards[t].ws);
        free(b->shards[t].grads);
        free(b->shards[t].keep);
        free(b->shards[t].labels);
    }
    free(b->shards);
    free(b->params_f);
    free(b->grads);
    free(b->order);
    adam_free(&b->adam);
}

static int buffers_init(train_buffers *b, const net_arch *arch, int batch, size_t n_img)
{
    memset(b, 0, sizeof *b);
    int threads = omp_get_max_threads();
    b->n_shards = threads < batch ? threads : batch;
    int shard_max = (batch + b->n_shards - 1) / b->n_shards;
    size_t np = arch->n_params, masks = net_mask_size(arch, shard_max);
    b->shards = calloc((size_t)b->n_shards, sizeof *b->shards);
    b->params_f = malloc(np * sizeof(float));
    b->grads = malloc(np * sizeof(double));
    b->order = malloc(n_img * sizeof(size_t));
    int ok = !adam_init(&b->adam, np) && b->shards && b->params_f && b->grads && b->order;
    for (int t = 0; ok && t < b->n_shards; t++) {
        shard *sh = &b->shards[t];
        ok = !net_work_init_f(&sh->ws, arch, shard_max);
        sh->grads = malloc(np * sizeof(float));
        sh->keep = malloc(masks ? masks : 1);
        sh->labels = malloc((size_t)shard_max * sizeof(int32_t));
        ok = ok && sh->grads && sh->keep && sh->labels;
    }
    if (!ok) {
        buffers_free(b);
        return error_set(EX_OSERR, "out of memory for training buffers");
    }
    return 0;
}

/* Shard t's forward and backward pass on images order[0..n). */
static void train_shard(const nettrain_config *cfg, const net_arch *arch, const imageset *set, shard *sh,
                        const float *params_f, const size_t *order, int n, uint64_t mask_stream)
{
    imageset_gather(set, order, 0, (size_t)n, sh->ws.act[0]);
    for (int k = 0; k < n; k++)
        sh->labels[k] = set->labels[order[k]];
    const uint8_t *keep = NULL;
    if (arch->dropout > 0) {
        net_draw_masks(arch, n, cfg->seed, mask_stream, sh->keep);
        keep = sh->keep;
    }
    net_forward_f(&sh->ws, params_f, n, keep);
    memset(sh->grads, 0, arch->n_params * sizeof(float));
    sh->loss = net_backward_f(&sh->ws, params_f, n, keep, sh->labels, sh->grads);
    sh->correct = count_correct(sh->ws.logits, sh->labels, n, arch->n_cls);
}

/* One optimisation step on images order[0..n); returns the batch's mean loss
 * and adds its correct predictions to *correct. Shard t holds images
 * [t·n/T, (t+1)·n/T); its masks come from stream mask_stream + t. */
static double train_batch(const nettrain_config *cfg, const net_arch *arch, const imageset *set, train_buffers *b,
                          const size_t *order, int n, uint64_t mask_stream, double *params, long *correct)
{
    for (size_t j = 0; j < arch->n_params; j++)
        b->params_f[j] = (float)params[j];
    int shards = b->n_shards < n ? b->n_shards : n;
#pragma omp parallel for num_threads(shards) schedule(static, 1)
    for (int t = 0; t < shards; t++) {
        int i0 = (int)((long)t * n / shards), i1 = (int)((long)(t + 1) * n / shards);
        train_shard(cfg, arch, set, &b->shards[t], b->params_f, order + i0, i1 - i0, mask_stream + (uint64_t)t);
    }
    double loss = 0;
    memset(b->grads, 0, arch->n_params * sizeof(double));
    for (int t = 0; t < shards; t++) {
        int nt = (int)((long)(t + 1) * n / shards) - (int)((long)t * n / shards);
        double w = (double)nt / n; /* shard means → the batch mean */
        const float *g = b->shards[t].grads;
        for (size_t j = 0; j < arch->n_params; j++)
            b->grads[j] += w * g[j];
        loss += w * b->shards[t].loss;
        *correct += b->shards[t].correct;
    }
    adam_update(&b->adam, params, b->grads, cfg->lr);
    return loss;
}

int nettrain_run(const nettrain_config *cfg, const net_arch *arch, const imageset *set, double *params,
                 nettrain_history *hist)
{
    memset(hist, 0, sizeof *hist);
    size_t n_img = set->n_img;
    int batch = (size_t)cfg->batch < n_img ? cfg->batch : (int)n_img;
    train_buffers b;
    if (buffers_init(&b, arch, batch, n_img))
        return error_code();
    hist->loss = malloc(cfg->epochs * sizeof(double));
    hist->accuracy = malloc(cfg->epochs * sizeof(double));
    hist->seconds = malloc(cfg->epochs * sizeof(double));
    if (!hist->loss || !hist->accuracy || !hist->seconds) {
        buffers_free(&b);
        nettrain_history_free(hist);
        return error_set(EX_OSERR, "out of memory for the training history");
    }
    size_t n_batches = (n_img + batch - 1) / batch;
    double start = now(), last_shown = 0;
    int rc = 0;
    for (long epoch = 0; epoch < cfg->epochs && !rc; epoch++) {
        double epoch_start = now(), loss_sum = 0;
        long correct = 0;
        rng_state rng;
        rng_init(&rng, cfg->seed, STREAM_ORDER ^ (uint64_t)epoch);
        rng_permutation(&rng, b.order, n_img);
        for (size_t bi = 0; bi < n_batches; bi++) {
            size_t b0 = bi * batch;
            int n = (int)(n_img - b0 < (size_t)batch ? n_img - b0 : (size_t)batch);
            uint64_t stream = STREAM_DROPOUT ^ ((uint64_t)epoch << 24) ^ ((uint64_t)bi << 8);
            double loss = train_batch(cfg, arch, set, &b, b.order + b0, n, stream, params, &correct);
            if (!isfinite(loss)) {
                rc = error_set(EX_SOFTWARE, "training diverged: the loss is %g at epoch %ld, batch %zu "
                               "(try a smaller --lr)", loss, epoch + 1, bi + 1);
                break;
            }
            loss_sum += loss * n;
            double t = now();
            if (cfg->cli && t - last_shown > 0.25) {
                double done = epoch + (bi + 1.0) / n_batches;
                char eta[32];
                format_eta((t - start) / done * (cfg->epochs - done), eta, sizeof eta);
                cli_progress(cfg->cli, "epoch %ld/%ld  batch %zu/%zu  loss %.4f  accuracy %.4f  ETA %s", epoch + 1,
                             cfg->epochs, bi + 1, n_batches, loss_sum / (b0 + n), (double)correct / (b0 + n), eta);
                last_shown = t;
            }
        }
        hist->loss[epoch] = loss_sum / n_img;
        hist->accuracy[epoch] = (double)correct / n_img;
        hist->seconds[epoch] = now() - epoch_start;
        hist->epochs = epoch + 1;
    }
    if (cfg->cli)
        cli_progress_end(cfg->cli);
    buffers_free(&b);
    return rc;
}

void nettrain_history_free(nettrain_history *hist)
{
    free(hist->loss);
    free(hist->accuracy);
    free(hist->seconds);
    memset(hist, 0, sizeof *hist);
}

int nettrain_features(const net_arch *arch, const float *params, const imageset *set, float *features)
{
    /* each thread runs whole batches of images with its own work space */
    enum { BATCH = 64 };
    int threads = omp_get_max_threads();
    size_t n_batches = (set->n_img + BATCH - 1) / BATCH;
    net_work_f *ws = calloc((size_t)threads, sizeof *ws);
    int ok = ws != NULL;
    for (int t = 0; ok && t < threads; t++)
        ok = !net_work_init_f(&ws[t], arch, BATCH);
    if (!ok) {
        for (int t = 0; ws && t < threads; t++)
            net_work_free_f(&ws[t]);
        free(ws);
        return error_set(EX_OSERR, "out of memory for the network's work space");
    }
    const int c = net_feat_channels(arch), hw = net_feat_hw(arch);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t bi = 0; bi < n_batches; bi++) {
        net_work_f *w = &ws[omp_get_thread_num()];
        size_t b0 = bi * BATCH;
        int n = (int)(set->n_img - b0 < BATCH ? set->n_img - b0 : BATCH);
        imageset_gather(set, NULL, b0, (size_t)n, w->act[0]);
        net_forward_f(w, params, n, NULL);
        const float *act = w->act[arch->n_layers]; /* [c × n × hw] */
        for (int img = 0; img < n; img++)
            for (int ch = 0; ch < c; ch++)
                memcpy(features + ((b0 + img) * c + ch) * hw, act + ((size_t)ch * n + img) * hw,
                       hw * sizeof(float));
    }
    for (int t = 0; t < threads; t++)
        net_work_free_f(&ws[t]);
    free(ws);
    return 0;
}
