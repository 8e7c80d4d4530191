/* test_net — the CNN of net.h: every layer's backward against central finite
 * differences (double instance), the whole network's gradient likewise, the
 * convolution against a direct loop, im2col/col2im as adjoints, the float
 * instance against the double one, and the architecture of trainnet. */
#include "harness.h"
#include "gradcheck.h"

#include "head.h"
#include "net.h"
#include "rng.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static rng_state rng;

static double *randn(size_t n, double scale)
{
    double *x = malloc(n * sizeof *x);
    for (size_t j = 0; j < n; j++)
        x[j] = scale * rng_normal(&rng);
    return x;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* ---- convolution: loss = <r, conv(in; weight, bias)> ----------------- */
typedef struct {
    conv_shape s;
    int n;
    double *in, *weight, *bias, *r, *cols, *out;
} conv_ctx;

static size_t conv_out_len(const conv_ctx *c) { return (size_t)c->s.c_out * c->n * c->s.ho * c->s.wo; }

static double conv_loss(void *ctx)
{
    conv_ctx *c = ctx;
    conv_forward_d(c->in, c->weight, c->bias, c->n, &c->s, c->cols, c->out);
    return dot(c->r, c->out, conv_out_len(c));
}

/* The direct definition, for the forward pass. */
static double conv_direct(const conv_ctx *c, int co, int img, int oy, int ox)
{
    const conv_shape *s = &c->s;
    double sum = c->bias[co];
    for (int ci = 0; ci < s->c_in; ci++)
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++) {
                int y = oy * s->stride - s->pad + ky, x = ox * s->stride - s->pad + kx;
                if (y < 0 || y >= s->h || x < 0 || x >= s->w)
                    continue;
                sum += c->weight[((co * s->c_in + ci) * s->k + ky) * s->k + kx] *
                       c->in[(((size_t)ci * c->n + img) * s->h + y) * s->w + x];
            }
    return sum;
}

static void test_conv(int c_in, int c_out, int stride, int h, int w, int n)
{
    conv_ctx c = {.n = n};
    CHECK(conv_shape_init(&c.s, c_in, c_out, 3, stride, 1, h, w) == 0, "conv shape");
    size_t in_len = (size_t)c_in * n * h * w, wlen = (size_t)c_out * c_in * 9, out_len = conv_out_len(&c);
    size_t cols_len = (size_t)conv_cols_rows(&c.s) * n * c.s.ho * c.s.wo;
    c.in = randn(in_len, 1);
    c.weight = randn(wlen, 0.5);
    c.bias = randn(c_out, 0.5);
    c.r = randn(out_len, 1);
    c.cols = malloc(cols_len * sizeof(double));
    c.out = malloc(out_len * sizeof(double));
    double *dcols = malloc(cols_len * sizeof(double)), *din = malloc(in_len * sizeof(double));
    double *dw = calloc(wlen, sizeof(double)), *db = calloc(c_out, sizeof(double));

    conv_loss(&c);
    double worst = 0;
    for (int co = 0; co < c_out; co++)
        for (int img = 0; img < n; img++)
            for (int oy = 0; oy < c.s.ho; oy++)
                for (int ox = 0; ox < c.s.wo; ox++) {
                    double got = c.out[(((size_t)co * n + img) * c.s.ho + oy) * c.s.wo + ox];
                    worst = fmax(worst, fabs(got - conv_direct(&c, co, img, oy, ox)));
                }
    CHECK(worst < 1e-12, "conv %dx%d stride %d: forward differs from the direct loop by %g", h, w, stride, worst);

    conv_backward_d(c.r, c.cols, c.weight, n, &c.s, dw, db, dcols, din);
    char what[128];
    snprintf(what, sizeof what, "conv %d→%d %dx%d stride %d: d/dweight", c_in, c_out, h, w, stride);
    CHECK(fd_rel_error(conv_loss, &c, c.weight, wlen, dw) < FD_TOL, "%s", what);
    CHECK_FD_SENSITIVE(conv_loss, &c, c.weight, wlen, dw, what);
    snprintf(what, sizeof what, "conv %dx%d stride %d: d/dbias", h, w, stride);
    CHECK(fd_rel_error(conv_loss, &c, c.bias, c_out, db) < FD_TOL, "%s", what);
    snprintf(what, sizeof what, "conv %dx%d stride %d: d/dinput", h, w, stride);
    CHECK(fd_rel_error(conv_loss, &c, c.in, in_len, din) < FD_TOL, "%s", what);
    CHECK_FD_SENSITIVE(conv_loss, &c, c.in, in_len, din, what);

    /* the accumulation contract: a second backward doubles dweight and dbias */
    double *dw1 = malloc(wlen * sizeof(double));
    memcpy(dw1, dw, wlen * sizeof(double));
    conv_loss(&c); /* cols of the unperturbed input again */
    conv_backward_d(c.r, c.cols, c.weight, n, &c.s, dw, db, dcols, NULL);
    worst = 0;
    for (size_t j = 0; j < wlen; j++)
        worst = fmax(worst, fabs(dw[j] - 2 * dw1[j]));
    CHECK(worst < 1e-12, "conv_backward accumulates into dweight (off by %g)", worst);

    /* im2col and col2im are adjoint: <im2col(x), y> = <x, col2im(y)> */
    double *y = randn(cols_len, 1);
    conv_im2col_d(c.in, n, &c.s, c.cols);
    conv_col2im_d(y, n, &c.s, din);
    double lhs = dot(c.cols, y, cols_len), rhs = dot(c.in, din, in_len);
    CHECK_CLOSE(lhs, rhs, 1e-12, "im2col/col2im adjoint");

    free(y); free(dw1);
    free(c.in); free(c.weight); free(c.bias); free(c.r); free(c.cols); free(c.out);
    free(dcols); free(din); free(dw); free(db);
}

/* ---- elementwise layers, pooling, linear, cross-entropy --------------- */
typedef struct {
    int which; /* 0 relu, 1 dropout, 2 gap, 3 linear (input), 4 linear (weight), 5 xent */
    size_t len;
    int c, n, hw, k;
    double *x, *r, *work, *weight, *bias, *aux;
    uint8_t *keep;
    int32_t *labels;
} small_ctx;

static double small_loss(void *ctx)
{
    small_ctx *s = ctx;
    switch (s->which) {
    case 0:
        memcpy(s->work, s->x, s->len * sizeof(double));
        relu_forward_d(s->work, s->len);
        return dot(s->r, s->work, s->len);
    case 1:
        memcpy(s->work, s->x, s->len * sizeof(double));
        dropout_forward_d(s->work, s->keep, 0.3, s->len);
        return dot(s->r, s->work, s->len);
    case 2:
        gap_forward_d(s->x, s->c, s->n, s->hw, s->work);
        return dot(s->r, s->work, (size_t)s->n * s->c);
    case 3:
    case 4:
        linear_forward_d(s->x, s->weight, s->bias, s->n, s->c, s->k, s->work);
        return dot(s->r, s->work, (size_t)s->n * s->k);
    default:
        return xent_forward_d(s->x, s->labels, s->n, s->k);
    }
}

static void test_small_layers(void)
{
    small_ctx s = {.len = 240, .c = 5, .n = 6, .hw = 8, .k = 3};
    s.x = randn(s.len, 1);
    for (size_t j = 0; j < s.len; j++) /* away from ReLU's kink */
        s.x[j] += s.x[j] > 0 ? 0.05 : -0.05;
    s.r = randn(s.len, 1);
    s.work = malloc(s.len * sizeof(double));
    s.keep = malloc(s.len);
    for (size_t j = 0; j < s.len; j++)
        s.keep[j] = rng_uniform(&rng) >= 0.3;
    double *g = malloc(s.len * sizeof(double));

    s.which = 0;
    memcpy(g, s.r, s.len * sizeof(double));
    memcpy(s.work, s.x, s.len * sizeof(double));
    relu_forward_d(s.work, s.len);
    relu_backward_d(s.work, g, s.len);
    CHECK(fd_rel_error(small_loss, &s, s.x, s.len, g) < FD_TOL, "relu backward");
    CHECK_FD_SENSITIVE(small_loss, &s, s.x, s.len, g, "relu backward");

    s.which = 1;
    memcpy(g, s.r, s.len * sizeof(double));
    dropout_backward_d(g, s.keep, 0.3, s.len);
    CHECK(fd_rel_error(small_loss, &s, s.x, s.len, g) < FD_TOL, "dropout backward");
    CHECK_FD_SENSITIVE(small_loss, &s, s.x, s.len, g, "dropout backward");

    s.which = 2; /* x [c × n × hw] = 5 × 6 × 8 = 240 */
    gap_backward_d(s.r, s.c, s.n, s.hw, g);
    CHECK(fd_rel_error(small_loss, &s, s.x, s.len, g) < FD_TOL, "gap backward");
    CHECK_FD_SENSITIVE(small_loss, &s, s.x, s.len, g, "gap backward");
    double pooled[30];
    double *pooled_ref = malloc(30 * sizeof(double));
    gap_forward_d(s.x, s.c, s.n, s.hw, pooled);
    /* head.h pools NCHW; x read as [c × n × hw] is NCHW of the transposed batch */
    double *nchw = malloc(s.len * sizeof(double));
    for (int ch = 0; ch < s.c; ch++)
        for (int img = 0; img < s.n; img++)
            for (int p = 0; p < s.hw; p++)
                nchw[((size_t)img * s.c + ch) * s.hw + p] = s.x[((size_t)ch * s.n + img) * s.hw + p];
    float *nchw_f = malloc(s.len * sizeof(float));
    for (size_t j = 0; j < s.len; j++)
        nchw_f[j] = (float)nchw[j];
    head_pool(nchw_f, s.n, s.c, s.hw, pooled_ref);
    float *xf = malloc(s.len * sizeof(float)), pooled_f[30];
    for (size_t j = 0; j < s.len; j++)
        xf[j] = (float)s.x[j];
    gap_forward_f(xf, s.c, s.n, s.hw, pooled_f);
    double worst = 0;
    for (int j = 0; j < 30; j++)
        worst = fmax(worst, fabs(pooled_f[j] - (float)pooled_ref[j]));
    CHECK(worst == 0, "gap_forward_f equals head_pool rounded to float (off by %g)", worst);

    /* linear: pooled [n × c] → logits [n × k] */
    s.weight = randn((size_t)s.k * s.c, 1);
    s.bias = randn(s.k, 1);
    double *dw = calloc((size_t)s.k * s.c, sizeof(double)), db[3] = {0}, *dp = malloc(30 * sizeof(double));
    memcpy(s.x, pooled, sizeof pooled);
    linear_backward_d(s.r, s.x, s.weight, s.n, s.c, s.k, dw, db, dp);
    s.which = 3;
    CHECK(fd_rel_error(small_loss, &s, s.x, 30, dp) < FD_TOL, "linear backward: d/dpooled");
    CHECK_FD_SENSITIVE(small_loss, &s, s.x, 30, dp, "linear backward: d/dpooled");
    s.which = 4;
    CHECK(fd_rel_error(small_loss, &s, s.weight, (size_t)s.k * s.c, dw) < FD_TOL, "linear backward: d/dweight");
    CHECK_FD_SENSITIVE(small_loss, &s, s.weight, (size_t)s.k * s.c, dw, "linear backward: d/dweight");
    CHECK(fd_rel_error(small_loss, &s, s.bias, s.k, db) < FD_TOL, "linear backward: d/dbias");
    double logits[18], logits_ref[18];
    linear_forward_d(s.x, s.weight, s.bias, s.n, s.c, s.k, logits);
    head_linear_forward(s.x, s.n, s.c, s.weight, s.bias, s.k, logits_ref);
    worst = 0;
    for (int j = 0; j < 18; j++)
        worst = fmax(worst, fabs(logits[j] - logits_ref[j]));
    CHECK(worst < 1e-12, "linear_forward_d equals head_linear_forward (off by %g)", worst);

    /* cross-entropy: logits [n × k], against head.h's */
    s.which = 5;
    int32_t labels[6] = {0, 2, 1, 1, 0, 2};
    s.labels = labels;
    memcpy(s.x, logits, sizeof logits);
    xent_backward_d(s.x, labels, s.n, s.k, g);
    CHECK(fd_rel_error(small_loss, &s, s.x, 18, g) < FD_TOL, "cross-entropy backward");
    CHECK_FD_SENSITIVE(small_loss, &s, s.x, 18, g, "cross-entropy backward");
    CHECK_CLOSE(xent_forward_d(s.x, labels, s.n, s.k), head_xent_forward(s.x, labels, s.n, s.k), 1e-12,
                "cross-entropy equals head_xent_forward");

    free(s.x); free(s.r); free(s.work); free(s.keep); free(g); free(s.weight); free(s.bias);
    free(dw); free(dp); free(nchw); free(nchw_f); free(xf); free(pooled_ref);
}

/* ---- the whole network ------------------------------------------------ */
typedef struct {
    net_work_d ws;
    double *params;
    int n;
    uint8_t *keep;
    int32_t *labels;
} net_ctx;

static double net_loss(void *ctx)
{
    net_ctx *c = ctx;
    net_forward_d(&c->ws, c->params, c->n, c->keep);
    return xent_forward_d(c->ws.logits, c->labels, c->n, c->ws.arch->n_cls);
}

static void test_network(void)
{
    net_arch arch;
    CHECK(net_arch_init(&arch, 1, 28, 28, 5, 16, 3, 0.3) == 0, "trainnet's architecture");
    int sizes[][2] = {{14, 14}, {7, 7}, {4, 4}, {2, 2}, {2, 2}};
    for (int l = 0; l < 5; l++)
        CHECK(arch.conv[l].ho == sizes[l][0] && arch.conv[l].wo == sizes[l][1] &&
                  arch.conv[l].stride == (l < 4 ? 2 : 1) && arch.conv[l].pad == 1 && arch.conv[l].c_out == 16,
              "layer %d: %dx%d stride %d", l, arch.conv[l].ho, arch.conv[l].wo, arch.conv[l].stride);
    CHECK(arch.n_params == 160 + 4 * 2320 + 3 * 16 + 3, "parameter count %zu", arch.n_params);
    net_arch tiny;
    CHECK(net_arch_init(&tiny, 1, 2, 2, 5, 16, 3, 0.3) == 0 && tiny.conv[4].ho == 1, "2x2 images still fit");

    /* a small network for the gradient check: 2 channels in, 10×9 images, 4 channels */
    CHECK(net_arch_init(&arch, 2, 10, 9, 3, 4, 3, 0.3) == 0, "small network");
    net_ctx c = {.n = 4};
    CHECK(net_work_init_d(&c.ws, &arch, c.n) == 0, "work space");
    c.params = malloc(arch.n_params * sizeof(double));
    net_init_params(&arch, 5, c.params);
    for (size_t j = 0; j < arch.n_params; j++)
        c.params[j] *= 2; /* livelier activations: fewer dead ReLUs */
    size_t in_len = (size_t)2 * c.n * 10 * 9;
    for (size_t j = 0; j < in_len; j++)
        c.ws.act[0][j] = rng_uniform(&rng);
    int32_t labels[4] = {0, 1, 2, 1};
    c.labels = labels;
    c.keep = malloc(net_mask_size(&arch, c.n));
    net_draw_masks(&arch, c.n, 5, 99, c.keep);
    double *grads = calloc(arch.n_params, sizeof(double));
    net_forward_d(&c.ws, c.params, c.n, c.keep);
    double loss = net_backward_d(&c.ws, c.params, c.n, c.keep, labels, grads);
    CHECK_CLOSE(loss, net_loss(&c), 1e-14, "net_backward returns the loss");
    CHECK(fd_rel_error(net_loss, &c, c.params, arch.n_params, grads) < FD_TOL,
          "network gradient (with dropout) against finite differences: %g",
          fd_rel_error(net_loss, &c, c.params, arch.n_params, grads));
    CHECK_FD_SENSITIVE(net_loss, &c, c.params, arch.n_params, grads, "network gradient");
    /* without dropout (evaluation) too */
    memset(grads, 0, arch.n_params * sizeof(double));
    free(c.keep);
    c.keep = NULL;
    net_forward_d(&c.ws, c.params, c.n, NULL);
    net_backward_d(&c.ws, c.params, c.n, NULL, labels, grads);
    CHECK(fd_rel_error(net_loss, &c, c.params, arch.n_params, grads) < FD_TOL,
          "network gradient (no dropout) against finite differences");

    /* the float instance computes the same within float rounding */
    net_work_f wf;
    CHECK(net_work_init_f(&wf, &arch, c.n) == 0, "float work space");
    float *pf = malloc(arch.n_params * sizeof(float)), *gf = calloc(arch.n_params, sizeof(float));
    for (size_t j = 0; j < arch.n_params; j++)
        pf[j] = (float)c.params[j];
    for (size_t j = 0; j < in_len; j++)
        wf.act[0][j] = (float)c.ws.act[0][j];
    net_forward_f(&wf, pf, c.n, NULL);
    net_backward_f(&wf, pf, c.n, NULL, labels, gf);
    double worst = 0, gmax = 0;
    for (size_t j = 0; j < arch.n_params; j++) {
        worst = fmax(worst, fabs(gf[j] - grads[j]));
        gmax = fmax(gmax, fabs(grads[j]));
    }
    CHECK(worst < 1e-4 * gmax, "float gradient within 1e-4 of the double one (%g of %g)", worst, gmax);
    worst = 0;
    for (int j = 0; j < c.n * 3; j++)
        worst = fmax(worst, fabs(wf.logits[j] - c.ws.logits[j]));
    CHECK(worst < 1e-5, "float logits within 1e-5 of the double ones (%g)", worst);

    /* masks: the drop rate and reproducibility */
    net_arch big;
    net_arch_init(&big, 1, 28, 28, 5, 16, 3, 0.3);
    size_t mlen = net_mask_size(&big, 64);
    CHECK(mlen == (size_t)64 * 16 * (196 + 49 + 16 + 4), "mask size %zu", mlen);
    uint8_t *m1 = malloc(mlen), *m2 = malloc(mlen);
    net_draw_masks(&big, 64, 3, 7, m1);
    net_draw_masks(&big, 64, 3, 7, m2);
    size_t kept = 0;
    for (size_t j = 0; j < mlen; j++)
        kept += m1[j];
    CHECK(!memcmp(m1, m2, mlen), "same seed and stream, same masks");
    CHECK(fabs((double)kept / mlen - 0.7) < 0.01, "keep rate %g, expected 0.7", (double)kept / mlen);
    net_draw_masks(&big, 64, 3, 8, m2);
    CHECK(memcmp(m1, m2, mlen) != 0, "another stream, other masks");

    free(m1); free(m2);
    net_work_free_f(&wf);
    free(pf); free(gf);
    net_work_free_d(&c.ws);
    free(c.params); free(grads);
}

int main(void)
{
    rng_init(&rng, 42, 1);
    test_conv(1, 3, 2, 7, 6, 2);
    test_conv(3, 4, 2, 4, 4, 3);
    test_conv(2, 3, 1, 2, 2, 2);
    test_conv(2, 2, 1, 5, 3, 1);
    test_small_layers();
    test_network();
    return harness_report("test_net");
}
