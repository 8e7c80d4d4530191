/* net — a small convolutional network in C: 3×3 convolutions by im2col +
 * GEMM (OpenBLAS), ReLU, inverted dropout, global average pooling, a linear
 * head and softmax cross-entropy, each a forward/backward pair (llm.c style),
 * and the network that chains them (trainnet(1); the paper's chess network,
 * method-spec §7, adapted to 28×28 inputs).
 *
 * Every function exists twice, from one source (net_layers.h): the float
 * instance (suffix _f) trains and evaluates; the double instance (suffix _d)
 * is what the unit tests check by central finite differences. Same code,
 * other `real`.
 *
 * Layout. Inside the network, activations are channel-major over the batch,
 * "CNHW": [C × n × H × W], so one convolution of a whole batch is one GEMM,
 * out [C_out × n·Ho·Wo] = weight [C_out × C_in·9] · cols [C_in·9 × n·Ho·Wo],
 * whose result is the next layer's input as it stands. Pooled features and
 * logits are per-image rows: [n × C], [n × K]. Weights are PyTorch's layout:
 * conv [C_out × C_in × 3 × 3], linear [K × C].
 *
 * Reductions (bias gradients, pooling) run in a fixed order per output and
 * OpenMP splits only over independent outputs, so results depend on the
 * thread count only through OpenBLAS's GEMM partitioning.
 *
 * Stage: network (trainnet, which makes the features the data stage
 * reads). In memory only, no files. */
#ifndef EDDP_NET_H
#define EDDP_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_MAX_LAYERS 8

/* One convolution: c_in × h × w → c_out × ho × wo, kernel k×k. */
typedef struct {
    int c_in, c_out, k, stride, pad;
    int h, w, ho, wo;
} conv_shape;

/* Fills ho, wo from the rest: ho = (h + 2 pad − k) / stride + 1. Returns 0,
 * or −1 when the output would be empty. */
int conv_shape_init(conv_shape *s, int c_in, int c_out, int k, int stride, int pad, int h, int w);
/* Rows of the im2col matrix (c_in·k·k). */
static inline int conv_cols_rows(const conv_shape *s) { return s->c_in * s->k * s->k; }

/* The network: n_layers convolutions (ReLU after each, dropout after each but
 * the last while training), GAP over the last layer's ho × wo, linear head. */
typedef struct {
    int n_layers;
    conv_shape conv[NET_MAX_LAYERS];
    int n_cls;
    double dropout;            /* drop probability, 0 = none */
    /* offsets into the flat parameter vector */
    size_t off_weight[NET_MAX_LAYERS], off_bias[NET_MAX_LAYERS];
    size_t off_head_weight, off_head_bias, n_params;
} net_arch;

/* The architecture of trainnet: n_layers 3×3 convolutions of `channels`
 * channels, stride 2 except the last (stride 1), padding 1 (28 → 14 → 7 →
 * 4 → 2 → 2 for five layers). EX_DATAERR (error.h) when the image is too
 * small for the layers. */
int net_arch_init(net_arch *arch, int c_in, int h, int w, int n_layers, int channels,
                  int n_cls, double dropout);
/* Output channels, height, width of the last convolution. */
static inline int net_feat_channels(const net_arch *a) { return a->conv[a->n_layers - 1].c_out; }
static inline int net_feat_hw(const net_arch *a)
{
    return a->conv[a->n_layers - 1].ho * a->conv[a->n_layers - 1].wo;
}
/* PyTorch's default initialisation (kaiming_uniform with a = √5): every
 * weight and bias of a layer ~ U(−1/√fan_in, 1/√fan_in). params [n_params]. */
void net_init_params(const net_arch *arch, uint64_t seed, double *params);
/* Drop masks for one batch of n images, [Σ_{l<L−1} c_out·n·ho·wo] bytes, 1 =
 * kept, each kept with probability 1 − dropout; drawn from (seed, stream). */
size_t net_mask_size(const net_arch *arch, int n);
void net_draw_masks(const net_arch *arch, int n, uint64_t seed, uint64_t stream, uint8_t *keep);

#define NET_DECLARE(real, SFX)                                                                   \
    /* cols [c_in·k·k × n·ho·wo] from in [c_in × n × h × w]; zero outside (padding). */          \
    void conv_im2col##SFX(const real *in, int n, const conv_shape *s, real *cols);               \
    /* din [c_in × n × h × w] = the adjoint of im2col applied to dcols (OVERWRITES). */           \
    void conv_col2im##SFX(const real *dcols, int n, const conv_shape *s, real *din);             \
    /* out [c_out × n·ho·wo] = weight · im2col(in) + bias; cols is work space [rows × n·ho·wo]   \
     * left holding im2col(in) for the backward pass. */                                          \
    void conv_forward##SFX(const real *in, const real *weight, const real *bias, int n,          \
                           const conv_shape *s, real *cols, real *out);                           \
    /* dweight += dout · colsᵀ, dbias += Σ dout (ACCUMULATE); din = ∂/∂in (OVERWRITES; NULL     \
     * skips it, e.g. for the first layer); dcols is work space like cols. */                     \
    void conv_backward##SFX(const real *dout, const real *cols, const real *weight, int n,       \
                            const conv_shape *s, real *dweight, real *dbias, real *dcols,         \
                            real *din);                                                           \
    /* x = max(0, x) in place; the backward takes the forward's output. */                       \
    void relu_forward##SFX(real *x, size_t len);                                                  \
    void relu_backward##SFX(const real *out, real *d, size_t len);                                \
    /* x = x · keep / (1 − p) in place (inverted dropout); backward the same on d. */           \
    void dropout_forward##SFX(real *x, const uint8_t *keep, double p, size_t len);               \
    void dropout_backward##SFX(real *d, const uint8_t *keep, double p, size_t len);              \
    /* pooled [n × c] = mean over hw of x [c × n × hw]; backward OVERWRITES dx. */               \
    void gap_forward##SFX(const real *x, int c, int n, int hw, real *pooled);                    \
    void gap_backward##SFX(const real *dpooled, int c, int n, int hw, real *dx);                 \
    /* logits [n × k] = pooled [n × c] · weightᵀ + bias. */                                       \
    void linear_forward##SFX(const real *pooled, const real *weight, const real *bias, int n,    \
                             int c, int k, real *logits);                                         \
    /* dweight += dlogitsᵀ pooled, dbias += Σ dlogits (ACCUMULATE); dpooled = dlogits · weight    \
     * (OVERWRITES). */                                                                           \
    void linear_backward##SFX(const real *dlogits, const real *pooled, const real *weight, int n, \
                              int c, int k, real *dweight, real *dbias, real *dpooled);           \
    /* Mean softmax cross-entropy (nats) of logits [n × k] against labels; dlogits =            \
     * ∂/∂logits (OVERWRITES). */                                                                 \
    double xent_forward##SFX(const real *logits, const int32_t *labels, int n, int k);           \
    void xent_backward##SFX(const real *logits, const int32_t *labels, int n, int k,             \
                            real *dlogits);                                                       \
                                                                                                  \
    /* Work space of the network for batches of up to n_max images. */                           \
    typedef struct {                                                                              \
        const net_arch *arch;                                                                     \
        int n_max;                                                                                \
        real *act[NET_MAX_LAYERS + 1]; /* act[0] input, act[l+1] layer l's output, CNHW */       \
        real *cols, *dcols;            /* largest layer's [rows × n·ho·wo] */                    \
        real *dact[2];                 /* ping-pong gradients of activations */                  \
        real *pooled, *logits, *dlogits, *dpooled;                                                \
    } net_work##SFX;                                                                              \
    int net_work_init##SFX(net_work##SFX *ws, const net_arch *arch, int n_max);                  \
    void net_work_free##SFX(net_work##SFX *ws);                                                   \
    /* Forward pass of n images: the input is ws->act[0] [c_in × n × h × w] (filled by the      \
     * caller); keep = drop masks (net_draw_masks) while training, NULL for evaluation. Each     \
     * layer's cols are recomputed in the backward pass, so it needs only act[]. Leaves the     \
     * last layer's features in ws->act[n_layers] and logits in ws->logits [n × K]. */            \
    void net_forward##SFX(net_work##SFX *ws, const real *params, int n, const uint8_t *keep);    \
    /* Mean cross-entropy of the forward pass just run, and its gradient ACCUMULATED into       \
     * grads [n_params]. */                                                                       \
    double net_backward##SFX(net_work##SFX *ws, const real *params, int n, const uint8_t *keep,  \
                             const int32_t *labels, real *grads);

NET_DECLARE(float, _f)
NET_DECLARE(double, _d)

#endif
