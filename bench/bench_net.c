/* bench_net — one trainnet training epoch against the GEMMs that bound it
 * from below (issue #12: "train the network in a few minutes on 2 cores").
 *
 * The epoch: nettrain_run for one epoch of N_IMG random 28×28 uint8 images
 * of 3 classes in batches of BATCH (trainnet's defaults: the watermark
 * experiment's 18,000 images, 64), with its sharding (one shard of each
 * batch per thread). The reference: the same shards' convolution GEMMs
 * alone (per layer: forward, weight gradient, input gradient but for the
 * first layer), in OpenBLAS on preallocated buffers. Prints both times, the
 * ratio and the GEMM rate; a ratio, never pass/fail.
 *
 *   build/bench/bench_net [N_IMG [BATCH]]     (18000, 64)
 * Threads: OMP_NUM_THREADS (default: all cores). */
#include "imageset.h"
#include "net.h"
#include "nettrain.h"
#include "rng.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the process: on a shared machine the honest measure of work */
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* The GEMMs of one shard of n images through every layer; returns flops. */
static double shard_gemms(const net_arch *a, int n, float **buf)
{
    double flops = 0;
    for (int l = 0; l < a->n_layers; l++) {
        const conv_shape *s = &a->conv[l];
        int rows = conv_cols_rows(s), m = n * s->ho * s->wo;
        float *w = buf[0], *cols = buf[1], *out = buf[2], *dw = buf[3], *dcols = buf[4];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->c_out, m, rows, 1, w, rows, cols, m, 0, out, m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->c_out, rows, m, 1, out, m, cols, m, 1, dw, rows);
        flops += 4.0 * s->c_out * m * rows;
        if (l > 0) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, m, s->c_out, 1, w, rows, out, m, 0, dcols, m);
            flops += 2.0 * s->c_out * m * rows;
        }
    }
    return flops;
}

int main(int argc, char **argv)
{
    size_t n_img = argc > 1 ? strtoul(argv[1], NULL, 10) : 18000;
    int batch = argc > 2 ? atoi(argv[2]) : 64;
    int threads = omp_get_max_threads();
    rng_state rng;
    rng_init(&rng, 1, 1);
    imageset set = {.n_img = n_img, .channels = 1, .height = 28, .width = 28, .n_cls = 3};
    set.images = malloc(n_img * 784);
    set.labels = malloc(n_img * sizeof(int32_t));
    for (size_t j = 0; j < n_img * 784; j++)
        set.images[j] = (uint8_t)rng_below(&rng, 256);
    for (size_t j = 0; j < n_img; j++)
        set.labels[j] = (int32_t)(j % 3);
    net_arch arch;
    net_arch_init(&arch, 1, 28, 28, 5, 16, 3, 0.3);
    double *params = malloc(arch.n_params * sizeof *params);
    net_init_params(&arch, 1, params);
    nettrain_config cfg = {.epochs = 1, .batch = batch, .lr = 0.005, .seed = 1};
    nettrain_history hist;
    double t0 = now(), c0 = cpu();
    if (nettrain_run(&cfg, &arch, &set, params, &hist))
        return 1;
    double epoch = now() - t0, epoch_cpu = cpu() - c0;
    nettrain_history_free(&hist);

    /* the reference: every shard's GEMMs, the shards of a batch in parallel */
    int shard = (batch + threads - 1) / threads;
    size_t big = (size_t)144 * shard * 196 + 4096;
    size_t n_batches = (n_img + batch - 1) / batch;
    double flops = 0;
    t0 = now();
    c0 = cpu();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
        float *buf[5];
        for (int k = 0; k < 5; k++)
            buf[k] = calloc(big, sizeof(float));
        for (size_t b = 0; b < n_batches; b++)
            flops += shard_gemms(&arch, shard, buf);
        for (int k = 0; k < 5; k++)
            free(buf[k]);
    }
    double gemm = now() - t0, gemm_cpu = cpu() - c0;
    printf("bench_net: %zu images, batch %d, %d threads (wall / CPU seconds)\n", n_img, batch, threads);
    printf("  epoch (nettrain_run)     %8.3f / %8.3f s\n", epoch, epoch_cpu);
    printf("  its convolution GEMMs    %8.3f / %8.3f s  (%.2f GFLOP/s wall)\n", gemm, gemm_cpu, flops / gemm * 1e-9);
    printf("  ratio epoch / GEMMs      %8.2f / %8.2f\n", epoch / gemm, epoch_cpu / gemm_cpu);
    free(set.images);
    free(set.labels);
    free(params);
    return 0;
}
