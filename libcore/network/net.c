/* net — see net.h. The layers themselves are in net_layers.h, instantiated
 * here for float and for double. */
#include "net.h"
#include "error.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int conv_shape_init(conv_shape *s, int c_in, int c_out, int k, int stride, int pad, int h, int w)
{
    *s = (conv_shape){.c_in = c_in, .c_out = c_out, .k = k, .stride = stride, .pad = pad, .h = h, .w = w};
    if (h + 2 * pad < k || w + 2 * pad < k || stride < 1)
        return -1;
    s->ho = (h + 2 * pad - k) / stride + 1;
    s->wo = (w + 2 * pad - k) / stride + 1;
    return 0;
}

int net_arch_init(net_arch *arch, int c_in, int h, int w, int n_layers, int channels, int n_cls, double dropout)
{
    memset(arch, 0, sizeof *arch);
    if (n_layers < 1 || n_layers > NET_MAX_LAYERS || channels < 1 || n_cls < 1 || c_in < 1)
        return error_set(EX_SOFTWARE, "net_arch_init: bad sizes");
    arch->n_layers = n_layers;
    arch->n_cls = n_cls;
    arch->dropout = dropout;
    size_t off = 0;
    for (int l = 0; l < n_layers; l++) {
        conv_shape *s = &arch->conv[l];
        int stride = l + 1 < n_layers ? 2 : 1;
        if (conv_shape_init(s, l ? channels : c_in, channels, 3, stride, 1, h, w))
            return error_set(EX_DATAERR, "images of %d×%d are too small for %d convolutions", arch->conv[0].h,
                             arch->conv[0].w, n_layers);
        h = s->ho;
        w = s->wo;
        arch->off_weight[l] = off;
        off += (size_t)s->c_out * conv_cols_rows(s);
        arch->off_bias[l] = off;
        off += (size_t)s->c_out;
    }
    arch->off_head_weight = off;
    off += (size_t)n_cls * channels;
    arch->off_head_bias = off;
    arch->n_params = off + (size_t)n_cls;
    return 0;
}

static void uniform_fill(rng_state *rng, double *x, size_t n, double bound)
{
    for (size_t j = 0; j < n; j++)
        x[j] = rng_uniform_range(rng, -bound, bound);
}

void net_init_params(const net_arch *arch, uint64_t seed, double *params)
{
    rng_state rng;
    rng_init(&rng, seed, RNG_STREAM_INIT);
    for (int l = 0; l < arch->n_layers; l++) {
        const conv_shape *s = &arch->conv[l];
        double bound = 1 / sqrt((double)conv_cols_rows(s));
        uniform_fill(&rng, params + arch->off_weight[l], (size_t)s->c_out * conv_cols_rows(s), bound);
        uniform_fill(&rng, params + arch->off_bias[l], (size_t)s->c_out, bound);
    }
    int c = net_feat_channels(arch);
    double bound = 1 / sqrt((double)c);
    uniform_fill(&rng, params + arch->off_head_weight, (size_t)arch->n_cls * c, bound);
    uniform_fill(&rng, params + arch->off_head_bias, (size_t)arch->n_cls, bound);
}

size_t net_mask_size(const net_arch *arch, int n)
{
    size_t len = 0;
    for (int l = 0; l + 1 < arch->n_layers; l++)
        len += (size_t)arch->conv[l].c_out * n * arch->conv[l].ho * arch->conv[l].wo;
    return arch->dropout > 0 ? len : 0;
}

void net_draw_masks(const net_arch *arch, int n, uint64_t seed, uint64_t stream, uint8_t *keep)
{
    rng_state rng;
    rng_init(&rng, seed, stream);
    /* 53-bit uniforms against 1 − p: one draw per unit, in a fixed order */
    size_t len = net_mask_size(arch, n);
    for (size_t j = 0; j < len; j++)
        keep[j] = rng_uniform(&rng) >= arch->dropout;
}

#define REAL float
#define SFX _f
#define GEMM cblas_sgemm
#include "net_layers.h"
#undef REAL
#undef SFX
#undef GEMM

#define REAL double
#define SFX _d
#define GEMM cblas_dgemm
#include "net_layers.h"
#undef REAL
#undef SFX
#undef GEMM
