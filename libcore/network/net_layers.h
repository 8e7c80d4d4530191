/* net_layers.h — the layers and the network of net.h, written once for a
 * type `real`. Included by net.c twice: REAL float with SFX _f and GEMM
 * cblas_sgemm, REAL double with SFX _d and GEMM cblas_dgemm. No include
 * guard, on purpose.
 *
 * Stage: network. In memory only, no files. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SFX)

void F(conv_im2col)(const REAL *in, int n, const conv_shape *s, REAL *cols)
{
    const int k = s->k, h = s->h, w = s->w, ho = s->ho, wo = s->wo;
    const size_t m = (size_t)n * ho * wo;
    /* one row of cols per (input channel, kernel row, kernel column) */
#pragma omp parallel for schedule(static)
    for (int row = 0; row < s->c_in * k * k; row++) {
        int ci = row / (k * k), ky = row / k % k, kx = row % k;
        REAL *dst = cols + (size_t)row * m;
        for (int img = 0; img < n; img++) {
            const REAL *src = in + ((size_t)ci * n + img) * h * w;
            for (int oy = 0; oy < ho; oy++) {
                int y = oy * s->stride - s->pad + ky;
                for (int ox = 0; ox < wo; ox++) {
                    int x = ox * s->stride - s->pad + kx;
                    *dst++ = (y >= 0 && y < h && x >= 0 && x < w) ? src[y * w + x] : 0;
                }
            }
        }
    }
}

void F(conv_col2im)(const REAL *dcols, int n, const conv_shape *s, REAL *din)
{
    const int k = s->k, h = s->h, w = s->w, ho = s->ho, wo = s->wo;
    const size_t m = (size_t)n * ho * wo;
    /* one input channel per thread: its k·k rows add into it in a fixed order */
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < s->c_in; ci++) {
        REAL *chan = din + (size_t)ci * n * h * w;
        memset(chan, 0, (size_t)n * h * w * sizeof *chan);
        for (int kk = 0; kk < k * k; kk++) {
            int ky = kk / k, kx = kk % k;
            const REAL *src = dcols + ((size_t)ci * k * k + kk) * m;
            for (int img = 0; img < n; img++) {
                REAL *dst = chan + (size_t)img * h * w;
                for (int oy = 0; oy < ho; oy++) {
                    int y = oy * s->stride - s->pad + ky;
                    for (int ox = 0; ox < wo; ox++, src++) {
                        int x = ox * s->stride - s->pad + kx;
                        if (y >= 0 && y < h && x >= 0 && x < w)
                            dst[y * w + x] += *src;
                    }
                }
            }
        }
    }
}

void F(conv_forward)(const REAL *in, const REAL *weight, const REAL *bias, int n, const conv_shape *s,
                     REAL *cols, REAL *out)
{
    const int rows = conv_cols_rows(s);
    const int m = n * s->ho * s->wo;
    F(conv_im2col)(in, n, s, cols);
#pragma omp parallel for schedule(static)
    for (int co = 0; co < s->c_out; co++)
        for (int j = 0; j < m; j++)
            out[(size_t)co * m + j] = bias[co];
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->c_out, m, rows, 1, weight, rows, cols, m, 1, out, m);
}

void F(conv_backward)(const REAL *dout, const REAL *cols, const REAL *weight, int n, const conv_shape *s,
                      REAL *dweight, REAL *dbias, REAL *dcols, REAL *din)
{
    const int rows = conv_cols_rows(s);
    const int m = n * s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int co = 0; co < s->c_out; co++) {
        double sum = 0;
        for (int j = 0; j < m; j++)
            sum += dout[(size_t)co * m + j];
        dbias[co] += (REAL)sum;
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, s->c_out, rows, m, 1, dout, m, cols, m, 1, dweight, rows);
    if (!din)
        return;
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, rows, m, s->c_out, 1, weight, rows, dout, m, 0, dcols, m);
    F(conv_col2im)(dcols, n, s, din);
}

/* The elementwise layers are written without branches (multiplications by
 * 0/1 and fmax): their signs and masks are random, and mispredicted branches
 * cost more than the arithmetic. */
void F(relu_forward)(REAL *x, size_t len)
{
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < len; j++)
        x[j] = x[j] > 0 ? x[j] : 0;
}

void F(relu_backward)(const REAL *out, REAL *d, size_t len)
{
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < len; j++)
        d[j] *= (REAL)(out[j] > 0);
}

void F(dropout_forward)(REAL *x, const uint8_t *keep, double p, size_t len)
{
    const REAL scale = (REAL)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < len; j++)
        x[j] *= (REAL)keep[j] * scale;
}

void F(dropout_backward)(REAL *d, const uint8_t *keep, double p, size_t len)
{
    F(dropout_forward)(d, keep, p, len); /* linear and diagonal: its own adjoint */
}

void F(gap_forward)(const REAL *x, int c, int n, int hw, REAL *pooled)
{
    for (int ch = 0; ch < c; ch++)
        for (int img = 0; img < n; img++) {
            const REAL *src = x + ((size_t)ch * n + img) * hw;
            double sum = 0;
            for (int p = 0; p < hw; p++)
                sum += src[p];
            pooled[(size_t)img * c + ch] = (REAL)(sum / hw);
        }
}

void F(gap_backward)(const REAL *dpooled, int c, int n, int hw, REAL *dx)
{
    for (int ch = 0; ch < c; ch++)
        for (int img = 0; img < n; img++) {
            REAL g = (REAL)(dpooled[(size_t)img * c + ch] / hw);
            REAL *dst = dx + ((size_t)ch * n + img) * hw;
            for (int p = 0; p < hw; p++)
                dst[p] = g;
        }
}

void F(linear_forward)(const REAL *pooled, const REAL *weight, const REAL *bias, int n, int c, int k,
                       REAL *logits)
{
    for (int img = 0; img < n; img++)
        for (int cls = 0; cls < k; cls++) {
            double sum = bias[cls];
            for (int ch = 0; ch < c; ch++)
                sum += (double)pooled[(size_t)img * c + ch] * weight[(size_t)cls * c + ch];
            logits[(size_t)img * k + cls] = (REAL)sum;
        }
}

void F(linear_backward)(const REAL *dlogits, const REAL *pooled, const REAL *weight, int n, int c, int k,
                        REAL *dweight, REAL *dbias, REAL *dpooled)
{
    for (int cls = 0; cls < k; cls++) {
        double db = 0;
        for (int img = 0; img < n; img++)
            db += dlogits[(size_t)img * k + cls];
        dbias[cls] += (REAL)db;
        for (int ch = 0; ch < c; ch++) {
            double dw = 0;
            for (int img = 0; img < n; img++)
                dw += (double)dlogits[(size_t)img * k + cls] * pooled[(size_t)img * c + ch];
            dweight[(size_t)cls * c + ch] += (REAL)dw;
        }
    }
    for (int img = 0; img < n; img++)
        for (int ch = 0; ch < c; ch++) {
            double dp = 0;
            for (int cls = 0; cls < k; cls++)
                dp += (double)dlogits[(size_t)img * k + cls] * weight[(size_t)cls * c + ch];
            dpooled[(size_t)img * c + ch] = (REAL)dp;
        }
}

/* log Σ exp(row) by the max shift, in double */
static double F(log_sum_exp)(const REAL *row, int k)
{
    double mx = row[0], sum = 0;
    for (int cls = 1; cls < k; cls++)
        mx = row[cls] > mx ? row[cls] : mx;
    for (int cls = 0; cls < k; cls++)
        sum += exp(row[cls] - mx);
    return mx + log(sum);
}

double F(xent_forward)(const REAL *logits, const int32_t *labels, int n, int k)
{
    double loss = 0;
    for (int img = 0; img < n; img++) {
        const REAL *row = logits + (size_t)img * k;
        loss += F(log_sum_exp)(row, k) - row[labels[img]];
    }
    return n ? loss / n : 0;
}

void F(xent_backward)(const REAL *logits, const int32_t *labels, int n, int k, REAL *dlogits)
{
    for (int img = 0; img < n; img++) {
        const REAL *row = logits + (size_t)img * k;
        double lse = F(log_sum_exp)(row, k);
        for (int cls = 0; cls < k; cls++)
            dlogits[(size_t)img * k + cls] = (REAL)((exp(row[cls] - lse) - (cls == labels[img])) / n);
    }
}

int F(net_work_init)(F(net_work) *ws, const net_arch *arch, int n_max)
{
    memset(ws, 0, sizeof *ws);
    ws->arch = arch;
    ws->n_max = n_max;
    size_t cols = 0, act_max = 0;
    const conv_shape *first = &arch->conv[0];
    size_t in_len = (size_t)first->c_in * n_max * first->h * first->w;
    ws->act[0] = malloc(in_len * sizeof(REAL));
    act_max = in_len;
    for (int l = 0; l < arch->n_layers; l++) {
        const conv_shape *s = &arch->conv[l];
        size_t m = (size_t)n_max * s->ho * s->wo, out_len = (size_t)s->c_out * m;
        cols = cols > conv_cols_rows(s) * m ? cols : conv_cols_rows(s) * m;
        act_max = act_max > out_len ? act_max : out_len;
        ws->act[l + 1] = malloc(out_len * sizeof(REAL));
        if (!ws->act[l + 1])
            break;
    }
    size_t feat = (size_t)n_max * net_feat_channels(arch), logit_len = (size_t)n_max * arch->n_cls;
    ws->cols = malloc(cols * sizeof(REAL));
    ws->dcols = malloc(cols * sizeof(REAL));
    ws->dact[0] = malloc(act_max * sizeof(REAL));
    ws->dact[1] = malloc(act_max * sizeof(REAL));
    ws->pooled = malloc(feat * sizeof(REAL));
    ws->dpooled = malloc(feat * sizeof(REAL));
    ws->logits = malloc(logit_len * sizeof(REAL));
    ws->dlogits = malloc(logit_len * sizeof(REAL));
    int ok = ws->act[0] && ws->act[arch->n_layers] && ws->cols && ws->dcols && ws->dact[0] && ws->dact[1] &&
             ws->pooled && ws->dpooled && ws->logits && ws->dlogits;
    if (!ok) {
        F(net_work_free)(ws);
        return error_set(EX_OSERR, "out of memory for the network's work space (%d images)", n_max);
    }
    return 0;
}

void F(net_work_free)(F(net_work) *ws)
{
    for (int l = 0; l <= NET_MAX_LAYERS; l++)
        free(ws->act[l]);
    free(ws->cols);
    free(ws->dcols);
    free(ws->dact[0]);
    free(ws->dact[1]);
    free(ws->pooled);
    free(ws->dpooled);
    free(ws->logits);
    free(ws->dlogits);
    memset(ws, 0, sizeof *ws);
}

void F(net_forward)(F(net_work) *ws, const REAL *params, int n, const uint8_t *keep)
{
    const net_arch *a = ws->arch;
    for (int l = 0; l < a->n_layers; l++) {
        const conv_shape *s = &a->conv[l];
        size_t len = (size_t)s->c_out * n * s->ho * s->wo;
        F(conv_forward)(ws->act[l], params + a->off_weight[l], params + a->off_bias[l], n, s, ws->cols,
                        ws->act[l + 1]);
        F(relu_forward)(ws->act[l + 1], len);
        if (keep && l + 1 < a->n_layers && a->dropout > 0) {
            F(dropout_forward)(ws->act[l + 1], keep, a->dropout, len);
            keep += len;
        }
    }
    int c = net_feat_channels(a);
    F(gap_forward)(ws->act[a->n_layers], c, n, net_feat_hw(a), ws->pooled);
    F(linear_forward)(ws->pooled, params + a->off_head_weight, params + a->off_head_bias, n, c, a->n_cls,
                      ws->logits);
}

double F(net_backward)(F(net_work) *ws, const REAL *params, int n, const uint8_t *keep, const int32_t *labels,
                       REAL *grads)
{
    const net_arch *a = ws->arch;
    int c = net_feat_channels(a), L = a->n_layers;
    double loss = F(xent_forward)(ws->logits, labels, n, a->n_cls);
    F(xent_backward)(ws->logits, labels, n, a->n_cls, ws->dlogits);
    F(linear_backward)(ws->dlogits, ws->pooled, params + a->off_head_weight, n, c, a->n_cls,
                       grads + a->off_head_weight, grads + a->off_head_bias, ws->dpooled);
    REAL *d = ws->dact[L % 2];
    F(gap_backward)(ws->dpooled, c, n, net_feat_hw(a), d);
    /* the masks of layer l start after those of the layers before it */
    size_t mask_off[NET_MAX_LAYERS] = {0};
    for (int l = 1; l < L; l++) {
        const conv_shape *s = &a->conv[l - 1];
        mask_off[l] = mask_off[l - 1] + (size_t)s->c_out * n * s->ho * s->wo;
    }
    for (int l = L - 1; l >= 0; l--) {
        const conv_shape *s = &a->conv[l];
        size_t len = (size_t)s->c_out * n * s->ho * s->wo;
        if (keep && l + 1 < L && a->dropout > 0)
            F(dropout_backward)(d, keep + mask_off[l], a->dropout, len);
        F(relu_backward)(ws->act[l + 1], d, len);
        REAL *din = l > 0 ? ws->dact[l % 2] : NULL;
        F(conv_im2col)(ws->act[l], n, s, ws->cols);
        F(conv_backward)(d, ws->cols, params + a->off_weight[l], n, s, grads + a->off_weight[l],
                         grads + a->off_bias[l], ws->dcols, din);
        d = din;
    }
    return loss;
}

#undef F
#undef CAT
#undef CAT_
