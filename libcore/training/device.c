/* device — see device.h. The host half of the CUDA backend: the
 * parametrisation, the small n_det-sized terms and the factorisations run
 * here in double, the rest through libcore/training/cuda/backend.h. */
#include "device.h"
#include "batchsrc.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/backend.h"
#include "cpu32.h"
#include "mat.h"
#include "param.h"
#include "ura.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

/* The plugin's file name; where it is looked for: $EDDP_CUDA_PLUGIN, else
 * relative to the executable's directory: <exe dir>/../lib (an
 * installation's bin/ and lib/ side by side; build/tests/ → build/lib/),
 * then <exe dir>/../build/lib (bin/ of a source tree). */
#define PLUGIN_NAME "eddp-cuda.so"
#define PLUGIN_ENV "EDDP_CUDA_PLUGIN"
/* The driver: the plugin is not even opened where it is absent. */
#define DRIVER_LIB "libcuda.so.1"
/* Another library to stand for the driver (tests: the plugin's failure
 * paths on a machine without one). */
#define DRIVER_ENV "EDDP_CUDA_DRIVER"

static const cuda_backend_ops *backend_ops;     /* the loaded plugin's table */
static const cuda_backend_ops *backend_forced;  /* device_backend_override */

void device_backend_override(const cuda_backend_ops *ops) { backend_forced = ops; }

static const cuda_backend_ops *ops_now(void) { return backend_forced ? backend_forced : backend_ops; }

/* A failed backend call: its status and message become ours. */
static int plugin_failed(const cuda_backend_ops *ops, int rc)
{
    if (!rc)
        return 0;
    int code = ops->error_code();
    int st = error_set(code ? code : rc, "%s", ops->error_message());
    ops->error_clear();
    return st;
}

/* "cuda" or "cuda:N" → N (0 for "cuda"); −1 for anything else. */
static int cuda_index_of(const char *spec)
{
    if (!strcmp(spec, "cuda"))
        return 0;
    if (strncmp(spec, "cuda:", 5) || !spec[5])
        return -1;
    char *end;
    long n = strtol(spec + 5, &end, 10);
    return *end || n < 0 || n > 1024 ? -1 : (int)n;
}

/* The candidate paths of the plugin, in order; returns how many (≤ 2). */
static int plugin_paths(char paths[2][PATH_MAX])
{
    const char *env = getenv(PLUGIN_ENV);
    if (env && *env) {
        snprintf(paths[0], PATH_MAX, "%s", env);
        return 1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(paths[0], PATH_MAX, "%.*s/../lib/" PLUGIN_NAME, PATH_MAX - 32, exe);
    snprintf(paths[1], PATH_MAX, "%.*s/../build/lib/" PLUGIN_NAME, PATH_MAX - 32, exe);
    return 2;
}

/* Loads the plugin once, after checking for the driver. Returns 0, or
 * EX_UNAVAILABLE saying what is missing: the driver, the plugin, or a
 * library the plugin needs (dlerror names it). */
static int backend_load(void)
{
    if (backend_forced || backend_ops)
        return 0;
    /* Without the driver there is no point mapping the CUDA libraries.
     * With the plugin loaded the driver stays open (its runtime needs it). */
    const char *driver_lib = getenv(DRIVER_ENV);
    if (!driver_lib || !*driver_lib)
        driver_lib = DRIVER_LIB;
    void *driver = dlopen(driver_lib, RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        const char *why = dlerror();
        return error_set(EX_UNAVAILABLE, "no CUDA device: no driver (%s)", why ? why : "dlopen failed");
    }
    char paths[2][PATH_MAX];
    int n = plugin_paths(paths);
    if (n == 0) {
        dlclose(driver);
        return error_set(EX_UNAVAILABLE, "no CUDA backend: cannot locate the executable to find " PLUGIN_NAME);
    }
    void *handle = NULL;
    char why[3200] = "";
    for (int k = 0; k < n && !handle; k++) {
        if (access(paths[k], F_OK)) {
            if (n == 1)
                snprintf(why, sizeof why, "%.1500s ($" PLUGIN_ENV ") not found", paths[0]);
            else if (k == 1 && !why[0])
                snprintf(why, sizeof why, PLUGIN_NAME " not found at %.1500s nor %.1500s (a build without nvcc "
                         "has none)", paths[0], paths[1]);
            continue;
        }
        handle = dlopen(paths[k], RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            snprintf(why, sizeof why, "%.3000s", dlerror());
    }
    if (!handle) {
        dlclose(driver);
        return error_set(EX_UNAVAILABLE, "no CUDA backend: %s", why);
    }
    cuda_backend_entry entry = (cuda_backend_entry)dlsym(handle, CUDA_BACKEND_SYMBOL);
    const cuda_backend_ops *ops = entry ? entry() : NULL;
    if (!ops || ops->abi != CUDA_BACKEND_ABI || ops->size != sizeof *ops) {
        dlclose(handle);
        dlclose(driver);
        return error_set(EX_UNAVAILABLE, "no CUDA backend: " PLUGIN_NAME " is of another version (ABI %d, want %d)",
                         ops ? ops->abi : -1, CUDA_BACKEND_ABI);
    }
    backend_ops = ops; /* open for the process's life */
    return 0;
}

int device_have_cuda(void)
{
    if (backend_forced || backend_ops)
        return 1;
    char paths[2][PATH_MAX];
    int n = plugin_paths(paths);
    for (int k = 0; k < n; k++)
        if (!access(paths[k], F_OK))
            return 1;
    return 0;
}

int device_choose(const char *spec, device_choice *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cpu");
    if (!spec)
        spec = "auto";
    if (!strcmp(spec, "cpu"))
        return 0;
    int automatic = !strcmp(spec, "auto"), index = automatic ? 0 : cuda_index_of(spec);
    if (index < 0)
        return error_set(EX_USAGE, "--device: expected auto, cpu or cuda[:N], got '%s'", spec);
    char name[128];
    int rc = backend_load();
    if (!rc) {
        const cuda_backend_ops *ops = ops_now();
        rc = plugin_failed(ops, ops->device_query(index, name, sizeof name));
    }
    if (rc) {
        if (automatic) { /* auto falls back to the CPU silently */
            error_clear();
            return 0;
        }
        return error_prefix("--device %s: ", spec);
    }
    out->kind = DEVICE_CUDA;
    out->index = index;
    out->automatic = automatic;
    snprintf(out->name, sizeof out->name, "cuda:%d %s", index, name);
    return 0;
}

int device_memory_info(int index, size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    if (backend_load())
        return error_code();
    const cuda_backend_ops *ops = ops_now();
    return plugin_failed(ops, ops->memory_info(index, free_bytes, total_bytes));
}

int device_set_precision(device_choice *dev, const char *precision)
{
    if (!precision || !strcmp(precision, "float64")) {
        if (precision && dev->kind == DEVICE_CUDA && !dev->automatic)
            return error_set(EX_UNAVAILABLE, "--precision float64: the CUDA backend computes the pixel path in "
                             "float32; use --device cpu or --precision float32");
        if (precision && dev->kind == DEVICE_CUDA) { /* auto: the float64 reference is the CPU's */
            memset(dev, 0, sizeof *dev);
            snprintf(dev->name, sizeof dev->name, "cpu");
        }
        return 0;
    }
    if (strcmp(precision, "float32"))
        return error_set(EX_USAGE, "--precision: expected float32 or float64, got '%s'", precision);
    if (dev->kind == DEVICE_CPU) {
        dev->kind = DEVICE_CPU32;
        dev->index = 0;
        dev->automatic = 0;
        snprintf(dev->name, sizeof dev->name, "cpu float32");
    }
    return 0;
}

const char *device_precision(const device_choice *dev)
{
    return dev->kind == DEVICE_CPU ? "float64" : "float32";
}

int device_gemm_reference(const device_choice *dev, size_t n_pix, int n_det, int n_dim, int reps, double *seconds)
{
    if (dev && dev->kind == DEVICE_CPU32) {
        const cuda_backend_ops *ops = cpu32_backend();
        return plugin_failed(ops, ops->gemm_reference(0, n_pix, n_det, n_dim, reps, seconds));
    }
    if (!dev || dev->kind != DEVICE_CUDA)
        return error_set(EX_SOFTWARE, "device_gemm_reference: not a CUDA device");
    if (backend_load())
        return error_code();
    const cuda_backend_ops *ops = ops_now();
    return plugin_failed(ops, ops->gemm_reference(dev->index, n_pix, n_det, n_dim, reps, seconds));
}

struct device_step {
    const det_layout *layout;
    const objective_config *cfg;
    const head_params *head;
    const train_data *data;
    const cuda_backend_ops *ops;
    cuda_step *gpu;
    int ura_kind;              /* enum cuda_ura_kind of the enabled URA term */
    mat_chol chol;
    mat_lu lu;
    double *square;            /* [n_det × n_det] G or B */
    float *Wf, *bf;            /* float32 staging of W and of the centred pixels' bias b − W c */
    double *dWc;               /* [n_det × n_dim] dW̃ = dAᵀX̃ of the centred pixels */
    double *db;                /* [n_det] */
    double *col_mean, *col_coef; /* [n_det] */
    double *uW, *ub, *uS;      /* URA gradients [n_det × n_dim], [n_det], [n_det × n_dim] */
    cuda_pixel_sums sums;      /* of the last forward */
    int pixel_pending;         /* a pixel backward is enqueued and not collected */
    size_t n_pix;
    /* A set streamed from the file (data->features NULL): each batch is read
     * into stage and handed to the backend as images 0..n−1 of a set of
     * max_img (the float32 CPU backend only). */
    train_data stage;
    float *stage_features;     /* [max_img × n_dim × hw] */
    double *stage_pooled;      /* [max_img × n_dim] */
    size_t *stage_order;       /* 0..max_img−1 */
};

/* The staging of a streamed set; the backend then sees a set of max_img images. */
static int stage_create(device_step *s, const device_choice *dev, size_t max_img)
{
    if (dev->kind != DEVICE_CPU32)
        return error_set(EX_UNAVAILABLE, "streaming the training set from the file (--memory) is not implemented "
                         "on the CUDA device; use --device cpu or a larger --memory");
    const train_data *data = s->data;
    size_t per_image = (size_t)data->n_dim * data->hw;
    s->stage_features = malloc(max_img * per_image * sizeof(float));
    s->stage_pooled = malloc(max_img * data->n_dim * sizeof(double));
    s->stage_order = malloc(max_img * sizeof(size_t));
    if (!s->stage_features || !s->stage_pooled || !s->stage_order)
        return error_set(EX_OSERR, "out of memory for streamed batches of %zu images", max_img);
    for (size_t k = 0; k < max_img; k++)
        s->stage_order[k] = k;
    s->stage = (train_data){s->stage_features, s->stage_pooled, max_img, data->n_dim, data->hw, NULL};
    return 0;
}

/* Reads the streamed batch order[0..n) into the staging; *order_out is
 * then the staging's own order. */
static int stage_batch(device_step *s, const size_t *order, size_t n, const size_t **order_out)
{
    const train_data *data = s->data;
    if (batchsrc_read(data->source, order, n, s->stage_features))
        return error_code();
    for (size_t k = 0; k < n; k++)
        memcpy(s->stage_pooled + k * data->n_dim, data->pooled + order[k] * data->n_dim,
               (size_t)data->n_dim * sizeof(double));
    *order_out = s->stage_order;
    return 0;
}


/* What the device cannot do, before anything is allocated. */
static int step_supported(const device_choice *dev, const det_layout *layout, const objective_config *cfg,
                          const head_params *head, const train_data *data)
{
    const char *where = dev->kind == DEVICE_CPU32 ? "in float32 on the CPU; use --precision float64"
                                                  : "on the CUDA device; use --device cpu";
    if (!loss_pixel_config_valid(&cfg->pixel))
        return error_set(EX_USAGE, "pixel-loss settings out of range (need gamma > 0, tau > 0, 0 <= rho < 1, "
                         "nu >= 1)");
    if (cfg->enabled[TERM_CNN])
        return error_set(EX_UNAVAILABLE, "L^cnn (--losses ...,cnn) is not implemented %s", where);
    /* soft's floors need the soft assignment's column means, union a
     * product over each pixel's detectors, which only the fused float64
     * pass computes; EX_UNAVAILABLE lets --device auto fall back to the
     * CPU, as for L^cnn. */
    if (cfg->enabled[TERM_IC] && (cfg->pixel.coverage == LOSS_COVERAGE_SOFT || cfg->pixel.coverage == LOSS_COVERAGE_UNION))
        return error_set(EX_UNAVAILABLE, "--coverage %s is not implemented %s",
                         loss_coverage_name(cfg->pixel.coverage), where);
    if ((cfg->enabled[TERM_S] || cfg->enabled[TERM_SB]) && cfg->pixel.sparsity == LOSS_SPARSITY_OVERLAP)
        return error_set(EX_UNAVAILABLE, "--sparsity overlap is not implemented %s", where);
    int n_det = layout->n_det, n_dim = layout->n_dim;
    int uur = cfg->enabled[TERM_UUR], cur = cfg->enabled[TERM_CUR];
    if (uur && n_det > n_dim)
        return error_set(EX_UNAVAILABLE, "L^uur with more detectors (%d) than dimensions (%d) needs the "
                         "pseudo-inverse path, which is not implemented %s", n_det, n_dim, where);
    if (uur && cur)
        return error_set(EX_USAGE, "L^uur and L^cur exclude each other");
    if (cur && !layout->has_signals)
        return error_set(EX_USAGE, "L^cur needs signal vectors (step d)");
    if (n_dim != data->n_dim || (head && head->n_dim != n_dim))
        return error_set(EX_SOFTWARE, "device_step_create: %d channels in the layout, %d in the data", n_dim,
                         data->n_dim);
    if ((uur || cur) && !head)
        return error_set(EX_SOFTWARE, "device_step_create: the URA terms need the head");
    return 0;
}

/* The host's float64 buffers. */
static int step_alloc(device_step *s)
{
    int n_det = s->layout->n_det, n_dim = s->layout->n_dim;
    size_t nd = (size_t)n_det * n_dim;
    s->square = malloc((size_t)n_det * n_det * sizeof(double));
    s->Wf = malloc(nd * sizeof(float));
    s->bf = malloc(n_det * sizeof(float));
    s->dWc = malloc(nd * sizeof(double));
    s->db = malloc(n_det * sizeof(double));
    s->col_mean = malloc(n_det * sizeof(double));
    s->col_coef = malloc(n_det * sizeof(double));
    s->uW = malloc(nd * sizeof(double));
    s->ub = malloc(n_det * sizeof(double));
    s->uS = malloc(nd * sizeof(double));
    int rc = !s->square || !s->Wf || !s->bf || !s->dWc || !s->db || !s->col_mean || !s->col_coef || !s->uW ||
             !s->ub || !s->uS || mat_chol_init(&s->chol, n_det) || mat_lu_init(&s->lu, n_det);
    return rc ? error_set(EX_OSERR, "out of memory for the device step") : 0;
}

int device_step_create(device_step **out, const device_choice *dev, const det_layout *layout,
                       const objective_config *cfg, const head_params *head, const train_data *data,
                       size_t max_img, size_t batch_budget)
{
    *out = NULL;
    if (!dev || dev->kind == DEVICE_CPU)
        return error_set(EX_SOFTWARE, "device_step_create: not a CUDA device or cpu float32");
    if (step_supported(dev, layout, cfg, head, data))
        return error_code();
    device_step *s = calloc(1, sizeof *s);
    if (!s)
        return error_set(EX_OSERR, "out of memory for the device step");
    int uur = cfg->enabled[TERM_UUR], cur = cfg->enabled[TERM_CUR];
    *s = (device_step){.layout = layout, .cfg = cfg, .head = head, .data = data,
                       .ura_kind = cur ? CUDA_URA_CUR : uur ? (layout->scale ? CUDA_URA_STD : CUDA_URA_UUR)
                                                            : CUDA_URA_NONE};
    if (step_alloc(s)) {
        device_step_free(s);
        return error_code();
    }
    const char *stream = getenv("EDDP_DEVICE_STREAM");
    if (max_img > data->n_img)
        max_img = data->n_img;
    if (!data->features && stage_create(s, dev, max_img)) {
        device_step_free(s);
        return error_code();
    }
    const train_data *set = data->features ? data : &s->stage;
    cuda_step_sizes sz = {.device = dev->index, .n_det = layout->n_det, .n_dim = layout->n_dim, .hw = data->hw,
                          .n_cls = head ? head->n_cls : 1, .n_img_total = set->n_img,
                          .max_img = max_img, .ura_kind = s->ura_kind,
                          .force_stream = !data->features || (stream && !strcmp(stream, "1")),
                          .batch_budget = batch_budget};
    s->ops = dev->kind == DEVICE_CPU32 ? cpu32_backend() : ops_now();
    if (!s->ops) {
        device_step_free(s);
        return error_set(EX_SOFTWARE, "device_step_create: no CUDA backend loaded (device_choose first)");
    }
    if (plugin_failed(s->ops, s->ops->step_create(&s->gpu, &sz, set->features, set->pooled,
                                                  head ? head->weight : NULL, head ? head->bias : NULL,
                                                  layout->center, layout->scale))) {
        device_step_free(s);
        return error_prefix("%s: ", dev->name);
    }
    *out = s;
    return 0;
}

void device_step_free(device_step *s)
{
    if (!s)
        return;
    if (s->ops && s->gpu)
        s->ops->step_free(s->gpu);
    mat_chol_free(&s->chol);
    mat_lu_free(&s->lu);
    free(s->square); free(s->Wf); free(s->bf); free(s->dWc); free(s->db);
    free(s->col_mean); free(s->col_coef); free(s->uW); free(s->ub); free(s->uS);
    free(s->stage_features); free(s->stage_pooled); free(s->stage_order);
    free(s);
}

int device_step_resident(const device_step *s) { return s->ops->step_resident(s->gpu); }
size_t device_step_bytes(const device_step *s) { return s->ops->step_bytes(s->gpu); }

/* ---- one step -------------------------------------------------------------- */

static int any_pixel_term(const objective_config *cfg)
{
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && objective_is_pixel_term(j))
            return 1;
    return 0;
}

static int step_load(void *ctx, const objective_batch *batch)
{
    device_step *s = ctx;
    if (!batch->order)
        return error_set(EX_SOFTWARE, "the device step draws its batches from the training set (no order given)");
    s->n_pix = (size_t)batch->n_img * (size_t)s->data->hw;
    s->pixel_pending = 0;
    const size_t *order = batch->order;
    if (!s->data->features && stage_batch(s, order, (size_t)batch->n_img, &order))
        return error_code();
    return plugin_failed(s->ops, s->ops->load_batch(s->gpu, order, (size_t)batch->n_img, batch->kappa));
}

/* Enqueues the pixel forward on the device; pixel_values collects it.
 * The device holds centred pixels x̃ = x − c: a = W x − b = W x̃ − (b − W c).
 * The bias of the centred pixels is formed here in float64 (it is t/M, of
 * order 1, where b itself reaches 1e5 on the synthetic preset). */
static int pixel_forward(device_step *s, const det_view *view)
{
    const objective_config *cfg = s->cfg;
    int n_det = s->layout->n_det, n_dim = s->layout->n_dim;
    const double *c = s->layout->center;
    for (int i = 0; i < n_det; i++) {
        const double *w = view->W + (size_t)i * n_dim;
        double wc = 0.0;
        for (int d = 0; d < n_dim; d++) {
            s->Wf[(size_t)i * n_dim + d] = (float)w[d];
            wc += w[d] * c[d];
        }
        s->bf[i] = (float)(view->b[i] - wc);
    }
    int with_sb = cfg->enabled[TERM_SB], columns = cfg->enabled[TERM_IC] || cfg->enabled[TERM_EAC];
    return plugin_failed(s->ops, s->ops->pixel_forward(s->gpu, s->Wf, s->bf, cfg->pixel.gamma, cfg->pixel.nu,
                                                       with_sb, columns));
}

static int pixel_values(device_step *s, double values[TERM_COUNT])
{
    const objective_config *cfg = s->cfg;
    int n_det = s->layout->n_det;
    int with_sb = cfg->enabled[TERM_SB], columns = cfg->enabled[TERM_IC] || cfg->enabled[TERM_EAC];
    if (plugin_failed(s->ops, s->ops->pixel_forward_collect(s->gpu, &s->sums, s->col_mean)))
        return error_code();
    double inv_n = 1.0 / (double)s->n_pix;
    double px[TERM_COUNT];
    px[TERM_S] = s->sums.sum_h * inv_n;
    px[TERM_MA] = s->sums.sum_m * inv_n;
    px[TERM_SB] = with_sb ? (s->sums.sb_max == 0.0 ? 0.0 : s->sums.sb_max * (s->sums.sb_a / s->sums.sb_b)) : NAN;
    px[TERM_IC] = px[TERM_EAC] = NAN;
    if (columns)
        loss_column_values(s->col_mean, (size_t)n_det, &cfg->pixel, &px[TERM_IC], &px[TERM_EAC]);
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && objective_is_pixel_term(j))
            values[j] = px[j];
    return 0;
}

/* Host factor of G = W Wᵀ (uur, std) or B = W Sᵀ (cur), then the device forward. */
static int ura_forward(device_step *s, const det_view *view, int term, double *value, double *cond)
{
    const det_layout *layout = s->layout;
    int n_det = layout->n_det, n_dim = layout->n_dim, kind = s->ura_kind, st;
    const double *W = kind == CUDA_URA_STD ? view->unit : view->W;
    const double *b = kind == CUDA_URA_STD ? view->t : view->b;
    if (kind == CUDA_URA_CUR) {
        mat_mul_abt(view->W, view->S, n_det, n_det, n_dim, s->square);
        st = mat_lu_factor(&s->lu, s->square, MAT_RCOND_MIN);
        *cond = s->lu.rcond > 0.0 ? 1.0 / s->lu.rcond : INFINITY;
    } else {
        mat_gram_rows(W, n_det, n_dim, s->square);
        st = mat_chol_factor(&s->chol, s->square, MAT_RCOND_MIN);
        *cond = s->chol.rcond_input > 0.0 ? 1.0 / s->chol.rcond_input : INFINITY;
    }
    if (st) {
        int ura_status = st == MAT_ERR_SINGULAR ? URA_ERR_SINGULAR : st == MAT_ERR_ALLOC ? URA_ERR_ALLOC
                                                                                        : URA_ERR_LAPACK;
        return error_set(EX_DATAERR, "L^%s: %s (condition number %.3g)", term_names[term],
                         ura_strerror(ura_status), *cond);
    }
    const double *factor = kind == CUDA_URA_CUR ? s->lu.factor : s->chol.factor;
    return plugin_failed(s->ops, s->ops->ura_forward(s->gpu, kind, W, b, view->S, factor,
                                                     kind == CUDA_URA_CUR ? s->lu.ipiv : NULL, value));
}

/* The pixel forward starts on the device while the host does L^mm and L^fso
 * (objective.c); the URA forward follows it on the same stream. */
static int step_forward_start(void *ctx, const det_view *view, double *values)
{
    (void)values;
    device_step *s = ctx;
    return any_pixel_term(s->cfg) ? pixel_forward(s, view) : 0;
}

static int step_forward_finish(void *ctx, const det_view *view, double *values, double *ura_cond)
{
    device_step *s = ctx;
    for (int j = TERM_UUR; j <= TERM_CUR; j++)
        if (s->cfg->enabled[j] && ura_forward(s, view, j, &values[j], ura_cond))
            return error_code();
    return any_pixel_term(s->cfg) ? pixel_values(s, values) : 0;
}

/* Enqueues pass 2 on the device with the weights of this step
 * (pixel_gradients collects it). */
static int pixel_backward(device_step *s, const double weights[TERM_COUNT])
{
    const objective_config *cfg = s->cfg;
    int n_det = s->layout->n_det;
    loss_pixel_weights w;
    objective_pixel_weights(cfg, weights, &w);
    int columns = (w.ic != 0.0 || w.eac != 0.0) &&
                  loss_column_coefficients(s->col_mean, (size_t)n_det, s->n_pix, &cfg->pixel, &w, s->col_coef);
    int pixels = w.s != 0.0 || w.sb != 0.0 || w.ma != 0.0;
    if (!columns && !pixels)
        return 0;
    double ratio = s->sums.sb_b > 0.0 ? s->sums.sb_a / s->sums.sb_b : 0.0;
    cuda_pixel_coefs c = {.c_s = w.s / (double)s->n_pix, .c_m = w.ma / (double)s->n_pix, .w_sb = w.sb,
                          .nu = cfg->pixel.nu, .sb_max = s->sums.sb_max, .sb_ratio = ratio, .sb_b = s->sums.sb_b,
                          .gamma = cfg->pixel.gamma, .col_coef = columns ? s->col_coef : NULL};
    s->pixel_pending = 1;
    return plugin_failed(s->ops, s->ops->pixel_backward(s->gpu, &c));
}

/* Waits for the pixel backward: grads.W += dAᵀX = dAᵀX̃ + (Σ_p dA) cᵀ =
 * dW̃ − db cᵀ (the centring's share, in float64), grads.b += db = −Σ dA. */
static int pixel_gradients(device_step *s, det_grads *grads)
{
    if (!s->pixel_pending)
        return 0;
    s->pixel_pending = 0;
    int n_det = s->layout->n_det;
    if (plugin_failed(s->ops, s->ops->pixel_backward_collect(s->gpu, s->dWc, s->db)))
        return error_code();
    int n_dim = s->layout->n_dim;
    const double *c = s->layout->center;
    for (int i = 0; i < n_det; i++) {
        for (int d = 0; d < n_dim; d++)
            grads->W[(size_t)i * n_dim + d] += s->dWc[(size_t)i * n_dim + d] - s->db[i] * c[d];
        grads->b[i] += s->db[i];
    }
    return 0;
}

static int ura_backward(device_step *s, double scale, det_grads *g)
{
    int n_det = s->layout->n_det, kind = s->ura_kind;
    size_t nd = (size_t)n_det * s->layout->n_dim;
    double extra = kind != CUDA_URA_CUR && s->chol.jittered ? 2.0 * MAT_JITTER_REL / n_det : 0.0;
    if (plugin_failed(s->ops, s->ops->ura_backward(s->gpu, scale, extra, s->uW, s->ub,
                                                   kind == CUDA_URA_CUR ? s->uS : NULL)))
        return error_code();
    double *dW = kind == CUDA_URA_STD ? g->unit : g->W, *db = kind == CUDA_URA_STD ? g->t : g->b;
    for (size_t k = 0; k < nd; k++)
        dW[k] += s->uW[k];
    for (int i = 0; i < n_det; i++)
        db[i] += s->ub[i];
    if (kind == CUDA_URA_CUR)
        for (size_t k = 0; k < nd; k++)
            g->S[k] += s->uS[k];
    return 0;
}

/* Pass 2 starts on the device while the host does the backward of L^mm and
 * L^fso; the URA gradients, then the pixel ones, are added after. */
static int step_backward_start(void *ctx, const det_view *view, const double *weights, det_grads *grads)
{
    (void)view;
    (void)grads;
    device_step *s = ctx;
    return any_pixel_term(s->cfg) ? pixel_backward(s, weights) : 0;
}

static int step_backward_finish(void *ctx, const det_view *view, const double *weights, det_grads *grads)
{
    (void)view;
    device_step *s = ctx;
    for (int j = TERM_UUR; j <= TERM_CUR; j++)
        if (s->cfg->enabled[j] && weights[j] != 0 && ura_backward(s, weights[j], grads))
            return error_prefix("L^%s backward: ", term_names[j]);
    return pixel_gradients(s, grads);
}

static void step_destroy(void *ctx) { device_step_free(ctx); }

static const batch_backend_ops step_ops = {
    .name = "device",
    .load = step_load,
    .forward_start = step_forward_start,
    .forward_finish = step_forward_finish,
    .backward_start = step_backward_start,
    .backward_finish = step_backward_finish,
    .destroy = step_destroy,
};

batch_backend device_step_backend(device_step *s) { return (batch_backend){&step_ops, s}; }
