/* trainopts — see trainopts.h. */
#include "trainopts.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The term named by name[0..len), or -1 after writing the complaint. */
static int find_term(const char *option, const char *name, size_t len, char *msg, size_t msg_len)
{
    for (int j = 0; j < TERM_COUNT; j++)
        if (strlen(term_names[j]) == len && !strncmp(term_names[j], name, len))
            return j;
    snprintf(msg, msg_len, "%s: unknown loss term '%.*s' (one of s,sb,ma,mm,ic,eac,uur,cur,fso,cnn)", option,
             (int)len, name);
    return -1;
}

/* TERM=VALUE: the term and its value, or -1 after writing the complaint. */
static int parse_term_value(const opt_row *row, const char *arg, double *value, char *msg, size_t len)
{
    char option[64];
    snprintf(option, sizeof option, "--%s", row->name);
    const char *eq = strchr(arg, '=');
    if (!eq) {
        snprintf(msg, len, "%s: expected TERM=VALUE, got '%s'", option, arg);
        return -1;
    }
    int j = find_term(option, arg, (size_t)(eq - arg), msg, len);
    char *end;
    *value = j < 0 ? 0 : strtod(eq + 1, &end);
    if (j >= 0 && (end == eq + 1 || *end || !isfinite(*value) || fabs(*value) > 1e12)) {
        snprintf(msg, len, "%s: expected a number in [-1e+12, 1e+12] after '=', got '%s'", option, arg);
        return -1;
    }
    return j;
}

static int parse_weight(const opt_row *row, const char *arg, char *msg, size_t len)
{
    double value;
    int j = parse_term_value(row, arg, &value, msg, len);
    if (j >= 0)
        ((objective_config *)row->target)->weight[j] = value;
    return j < 0 ? -1 : 0;
}

static int parse_bound(const opt_row *row, const char *arg, char *msg, size_t len)
{
    double value;
    int j = parse_term_value(row, arg, &value, msg, len);
    if (j >= 0) {
        objective_config *o = row->target;
        o->bound[j] = value;
        o->constrained[j] = 1;
    }
    return j < 0 ? -1 : 0;
}

/* Every term's weight, and the bound of each constrained one: for the fingerprint. */
static void format_weights(const opt_row *row, char *buf, size_t len)
{
    const objective_config *o = row->target;
    size_t n = 0;
    for (int j = 0; j < TERM_COUNT && n < len; j++)
        n += (size_t)snprintf(buf + n, len - n, "%s=%.17g,", term_names[j], o->weight[j]);
}

static void format_bounds(const opt_row *row, char *buf, size_t len)
{
    const objective_config *o = row->target;
    size_t n = 0;
    buf[0] = '\0';
    for (int j = 0; j < TERM_COUNT && n < len; j++)
        if (o->constrained[j])
            n += (size_t)snprintf(buf + n, len - n, "%s=%.17g,", term_names[j], o->bound[j]);
}

static int parse_plateau(const opt_row *row, const char *arg, char *msg, size_t len)
{
    train_config *t = row->target;
    double factor;
    int patience, cooldown;
    char extra;
    if (sscanf(arg, "%lf:%d:%d%c", &factor, &patience, &cooldown, &extra) != 3 || !(factor > 0) ||
        factor > 1 || patience < 0 || cooldown < 0) {
        snprintf(msg, len, "--plateau: expected FACTOR:PATIENCE:COOLDOWN with 0 < FACTOR <= 1, got '%s'", arg);
        return -1;
    }
    t->plateau_factor = factor;
    t->plateau_patience = patience;
    t->plateau_cooldown = cooldown;
    return 0;
}

static void format_plateau(const opt_row *row, char *buf, size_t len)
{
    const train_config *t = row->target;
    snprintf(buf, len, "%.17g:%d:%d", t->plateau_factor, t->plateau_patience, t->plateau_cooldown);
}

/* --memory BYTES with an optional binary suffix (opts_parse_size: 6G = 6·2^30). */
static int parse_memory(const opt_row *row, const char *arg, char *msg, size_t len)
{
    double bytes;
    if (opts_parse_size(arg, &bytes)) {
        snprintf(msg, len, "--memory: expected a size in bytes with an optional suffix K, M, G or T (binary), "
                 "such as 512M or 6G, got '%s'", arg);
        return -1;
    }
    *(size_t *)row->target = (size_t)bytes;
    return 0;
}

static void format_memory(const opt_row *row, char *buf, size_t len)
{
    snprintf(buf, len, "%zu", *(const size_t *)row->target);
}

/* --tau-schedule TO:N into opts->tau_to, opts->tau_epochs. */
static int parse_tau_schedule(const opt_row *row, const char *arg, char *msg, size_t len)
{
    train_options *opts = row->target;
    char extra;
    if (sscanf(arg, "%lf:%ld%c", &opts->tau_to, &opts->tau_epochs, &extra) != 2 || !(opts->tau_to > 0) ||
        opts->tau_to > 1e9 || opts->tau_epochs < 1) {
        snprintf(msg, len, "--tau-schedule: expected TO:EPOCHS with TO > 0 and EPOCHS >= 1, got '%s'", arg);
        return -1;
    }
    return 0;
}

static void format_tau_schedule(const opt_row *row, char *buf, size_t len)
{
    const train_options *opts = row->target;
    snprintf(buf, len, "%.17g:%ld", opts->tau_to, opts->tau_epochs);
}

static void set_rows(train_options *opts)
{
    objective_config *o = &opts->obj;
    train_config *t = &opts->train;
    opts->kappa = (opt_pair){&o->kappa_lo, &o->kappa_hi};
    const opt_row rows[] = {
        OPT_GROUP("training options:"),
        OPT_STRING("losses", &opts->losses, "LIST",
                   "terms to use, comma-separated from s,sb,ma,mm,ic,eac,uur,cur,\nfso,cnn"),
        OPT_CHOICE("objective", &t->constrained, "sum|constrained",
                   "weighted sum, or augmented Lagrangian (sum)"),
        OPT_CALLBACK("weight", o, parse_weight, format_weights, "TERM=X",
                     "weight of a term in the objective (1); repeatable"),
        OPT_CALLBACK("bound", o, parse_bound, format_bounds, "TERM=X",
                     "with --objective constrained: TERM <= X is a constraint;\nrepeatable"),
        OPT_DOUBLE("gamma", &o->pixel.gamma, 1e-3, 100, "X", "loss hyper-parameter gamma (1.1)"),
        OPT_DOUBLE("tau", &o->pixel.tau, 1e-9, 1e9, "X", "loss hyper-parameter tau (1)"),
        OPT_DOUBLE("rho", &o->pixel.rho, 0, 0.999999, "X", "loss hyper-parameter rho (0.5)"),
        OPT_DOUBLE("nu", &o->pixel.nu, 1.000001, 100, "X", "loss hyper-parameter nu (4)"),
        OPT_CHOICE("coverage", &o->pixel.coverage, "mean|per-detector|soft|reward|union",
                   "L^ic: mean deficit below tau/I (Eq. 13), its soft maximum\n"
                   "(per-detector), floors tau x soft share, 1 - mean coverage\n"
                   "(reward), or the share of pixels no detector claims (union;\n"
                   "reward and union: a weighted term, tau unused) (mean)"),
        OPT_CHOICE("sparsity", &o->pixel.sparsity, "entropy|overlap",
                   "L^s per pixel: entropy of the normalised activations (Eq.),\n"
                   "or the pairwise overlap of the detectors, 0 where at most\n"
                   "one fires (entropy)"),
        OPT_CALLBACK("tau-schedule", opts, parse_tau_schedule, format_tau_schedule, "TO:N",
                     "tau moves linearly from --tau to TO over the first N epochs"),
        OPT_PAIR("kappa", &opts->kappa, "LO:HI", "URA step magnitude range, within [0, 1] (0.5:0.9)"),
        OPT_EPOCHS(&t->epochs, "Adam epochs (uibe: 1000, eddp: 2000)", .given = &opts->epochs_given, .flags = OPTF_NOHASH),
        OPT_LR(&t->lr, "Adam learning rate (0.001)"),
        OPT_BATCH(&t->batch_images, "images per batch, whole images (1024)"),
        OPT_DOUBLE("lr-ref-batch", &opts->lr_ref_batch, 0, 1e12, "N", "scale lr by batch/N (0 = use lr as given)"),
        OPT_CALLBACK("plateau", t, parse_plateau, format_plateau, "F:P:C",
                     "reduce lr by F after P epochs without progress, C cooldown\n(off)"),
        OPT_INTEGER("al-every", &t->al_every, 1, 1000000000, "N", "epochs between multiplier updates (50)"),
        OPT_DOUBLE("al-penalty", &t->al_penalty, 1e-12, 1e12, "X", "initial penalty (1)"),
        OPT_DOUBLE("al-growth", &t->al_growth, 1, 1e6, "X", "penalty growth per update (10)"),
        OPT_DOUBLE("al-penalty-max", &t->al_penalty_max, 1e-12, 1e15, "X", "penalty cap (1e4)"),
        OPT_CHOICE("al-measure", &opts->al_measure, "full|epoch",
                   "constraint values for updates: full pass or epoch means (full)"),
        OPT_STRING("checkpoint", &opts->checkpoint, "FILE", "checkpoint path (OUTPUT.ckpt)", .flags = OPTF_NOHASH),
        OPT_INTEGER("checkpoint-every", &t->checkpoint_every, 0, 1000000000, "N",
                    "epochs between checkpoints (0 = only on signals)", .flags = OPTF_NOHASH),
        OPT_FLAG("resume", &t->resume, "continue from the checkpoint if there is one", .flags = OPTF_NOHASH),
        OPT_STRING("diagnose", &opts->diagnose, "DIRECTIONS",
                   "print every loss and constraint of DIRECTIONS as TSV, no training"),
        OPT_CHOICE("precision", &opts->precision_index, "float32|float64",
                   "pixel path in float32 (the CUDA arithmetic) or float64 (float64)"),
        OPT_CALLBACK("memory", &opts->memory, parse_memory, format_memory, "BYTES",
                     "budget for the training set (K/M/G suffix): a larger set is\nread from the file batch by batch, with the same result (no\nlimit)",
                     .flags = OPTF_NOHASH),
        OPT_END,
    };
    _Static_assert(sizeof rows == sizeof opts->rows, "TRAINOPTS_N_ROWS counts the rows");
    memcpy(opts->rows, rows, sizeof rows);
}

void trainopts_defaults(train_options *opts, const char *default_losses, long epochs)
{
    memset(opts, 0, sizeof *opts);
    objective_config *o = &opts->obj;
    for (int j = 0; j < TERM_COUNT; j++)
        o->weight[j] = 1.0;
    o->pixel = (loss_pixel_config){.gamma = 1.1, .tau = 1.0, .rho = 0.5, .nu = 4.0};
    o->kappa_lo = 0.5;
    o->kappa_hi = 0.9;
    train_config *t = &opts->train;
    t->epochs = epochs;
    t->batch_images = 1024;
    t->lr = 1e-3;
    t->plateau_factor = 1.0;
    t->al_every = 50;
    t->al_full_data = 1;
    t->al_penalty = 1.0;
    t->al_growth = 10.0;
    t->al_penalty_max = 1e4;
    opts->losses = default_losses;
    opts->precision_index = -1; /* absent differs from float64 with --device auto (device.h) */
    set_rows(opts);
}

static void enable_losses(train_options *opts, const cli_common *cli, const char *allowed)
{
    const char *p = opts->losses;
    if (!*p)
        cli_usage_error(cli, "--losses: no loss terms given (allowed: %s)", allowed);
    while (*p) {
        size_t len = strcspn(p, ",");
        char msg[256];
        int found = find_term("--losses", p, len, msg, sizeof msg);
        if (found < 0)
            cli_usage_error(cli, "%s", msg);
        term_id j = (term_id)found;
        if (!objective_term_listed(allowed, j))
            cli_usage_error(cli, "--losses: '%s' is not a loss of this step (allowed: %s)", term_names[j], allowed);
        if (opts->obj.enabled[j])
            cli_usage_error(cli, "--losses: '%s' is listed twice in '%s'", term_names[j], opts->losses);
        opts->obj.enabled[j] = 1;
        p += len + (p[len] == ',');
    }
}

void trainopts_finish(train_options *opts, const cli_common *cli, const char *allowed)
{
    /* From the parsed values, before anything below derives from them. */
    opts->train.fingerprint = cli_fingerprint(cli);
    opts->train.al_full_data = opts->al_measure == 0;
    if (opts->precision_index >= 0)
        opts->precision_arg = opts->precision_index ? "float64" : "float32";
    enable_losses(opts, cli, allowed);
    objective_config *o = &opts->obj;
    for (int j = 0; j < TERM_COUNT; j++)
        if (o->constrained[j] && !o->enabled[j])
            cli_usage_error(cli, "--bound %s=...: the term is not in --losses", term_names[j]);
    for (int j = 0; j < TERM_COUNT; j++)
        /* Every term but the alignments (range [-log2 K, 0]) is never negative. */
        if (o->constrained[j] && j != TERM_UUR && j != TERM_CUR && o->bound[j] < 0)
            cli_usage_error(cli, "--bound %s=%g: L^%s is never negative, so the constraint cannot be met",
                            term_names[j], o->bound[j], term_names[j]);
    if (o->enabled[TERM_UUR] && o->enabled[TERM_CUR])
        cli_usage_error(cli, "--losses: uur and cur exclude each other");
    if (o->kappa_lo < 0 || o->kappa_hi > 1)
        cli_usage_error(cli, "--kappa: the range must lie in [0, 1]");
    train_config *t = &opts->train;
    /* union's bound is a share of pixels left unclaimed; reward's value has
     * no such meaning (it never reaches 0) */
    if (o->pixel.coverage == LOSS_COVERAGE_REWARD && o->constrained[TERM_IC])
        cli_usage_error(cli, "--coverage reward: L^ic is then a weighted term (--weight ic=X), not a constraint (--bound ic)");
    const char *without_tau = o->pixel.coverage == LOSS_COVERAGE_REWARD || o->pixel.coverage == LOSS_COVERAGE_UNION
                                  ? loss_coverage_name(o->pixel.coverage)
                                  : NULL;
    if (without_tau && opts->tau_epochs > 0)
        cli_usage_error(cli, "--tau-schedule: --coverage %s does not use tau", without_tau);
    if (opts->tau_epochs > 0 && !o->enabled[TERM_IC])
        cli_usage_error(cli, "--tau-schedule: L^ic (ic) is not in --losses");
    if (opts->tau_epochs > 0 && opts->diagnose)
        o->pixel.tau = opts->tau_to; /* the objective the schedule ends in */
    else if (opts->tau_epochs > 0) {
        t->tau_schedule.tau = &o->pixel.tau;
        t->tau_schedule.from = o->pixel.tau;
        t->tau_schedule.to = opts->tau_to;
        t->tau_schedule.epochs = opts->tau_epochs;
    }
    if (opts->lr_ref_batch > 0)
        t->lr *= (double)t->batch_images / opts->lr_ref_batch;
    if (!t->constrained)
        for (int j = 0; j < TERM_COUNT; j++)
            o->constrained[j] = 0;
    if (!opts->checkpoint) {
        /* Beside the output; an output on stdout checkpoints in the working folder. */
        int to_stdout = !cli->output || !strcmp(cli->output, "-");
        snprintf(opts->checkpoint_buf, sizeof opts->checkpoint_buf, "%s%s.ckpt", to_stdout ? cli->tool : cli->output,
                 to_stdout ? "-stdout" : "");
        opts->checkpoint = opts->checkpoint_buf;
    }
    t->checkpoint = opts->checkpoint;
    t->seed = cli->seed;
    t->cli = cli;
}

int trainopts_write_attrs(const train_options *opts, h5out *out)
{
    const objective_config *o = &opts->obj;
    const train_config *t = &opts->train;
    char terms[128] = "", name[64];
    int rc = 0;
    for (int j = 0; j < TERM_COUNT && !rc; j++) {
        if (!o->enabled[j])
            continue;
        strcat(terms, terms[0] ? "," : "");
        strcat(terms, term_names[j]);
        snprintf(name, sizeof name, "weight_%s", term_names[j]);
        rc = h5out_attr_double(out, "/", name, o->weight[j]);
        if (!rc && o->constrained[j]) {
            snprintf(name, sizeof name, "bound_%s", term_names[j]);
            rc = h5out_attr_double(out, "/", name, o->bound[j]);
        }
    }
    double kappa[2] = {o->kappa_lo, o->kappa_hi};
    rc = rc || h5out_attr_string(out, "/", "losses", terms) ||
         h5out_attr_string(out, "/", "objective", t->constrained ? "constrained" : "sum") ||
         h5out_attr_string(out, "/", "precision", opts->precision ? opts->precision : "float64") ||
         h5out_attr_double(out, "/", "gamma", o->pixel.gamma) ||
         h5out_attr_double(out, "/", "tau", t->tau_schedule.tau ? t->tau_schedule.from : o->pixel.tau) ||
         h5out_attr_string(out, "/", "coverage", loss_coverage_name(o->pixel.coverage)) ||
         h5out_attr_string(out, "/", "sparsity", loss_sparsity_name(o->pixel.sparsity)) ||
         (t->tau_schedule.tau && (h5out_attr_double(out, "/", "tau_final", t->tau_schedule.to) ||
                                  h5out_attr_int(out, "/", "tau_schedule_epochs", t->tau_schedule.epochs))) ||
         h5out_attr_double(out, "/", "rho", o->pixel.rho) ||
         h5out_attr_double(out, "/", "nu", o->pixel.nu) ||
         h5out_attr_doubles(out, "/", "kappa", kappa, 2) ||
         h5out_attr_int(out, "/", "epochs", t->epochs) ||
         h5out_attr_int(out, "/", "batch", (long long)t->batch_images) ||
         h5out_attr_double(out, "/", "lr", t->lr) ||
         h5out_attr_double(out, "/", "plateau_factor", t->plateau_factor) ||
         h5out_attr_int(out, "/", "plateau_patience", t->plateau_patience) ||
         h5out_attr_int(out, "/", "plateau_cooldown", t->plateau_cooldown) ||
         h5out_attr_int(out, "/", "al_every", t->al_every) ||
         h5out_attr_string(out, "/", "al_measure", t->al_full_data ? "full" : "epoch") ||
         h5out_attr_double(out, "/", "al_penalty", t->al_penalty) ||
         h5out_attr_double(out, "/", "al_growth", t->al_growth) ||
         h5out_attr_double(out, "/", "al_penalty_max", t->al_penalty_max);
    return rc ? error_code() : 0;
}
