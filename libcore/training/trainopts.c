/* trainopts — see trainopts.h. */
#include "trainopts.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
}

static term_id parse_term(const cli_common *cli, const char *option, const char *name, size_t len)
{
    for (int j = 0; j < TERM_COUNT; j++)
        if (strlen(term_names[j]) == len && !strncmp(term_names[j], name, len))
            return (term_id)j;
    cli_usage_error(cli, "%s: unknown loss term '%.*s' (one of s,sb,ma,mm,ic,eac,uur,cur,fso,cnn)",
                    option, (int)len, name);
}

/* TERM=VALUE */
static void parse_term_value(const cli_common *cli, const char *option, const char *arg, double *table)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        cli_usage_error(cli, "%s: expected TERM=VALUE, got '%s'", option, arg);
    term_id j = parse_term(cli, option, arg, (size_t)(eq - arg));
    table[j] = cli_parse_double(cli, option, eq + 1, -1e12, 1e12);
}

int trainopts_option(train_options *opts, const cli_common *cli, int opt, const char *arg)
{
    objective_config *o = &opts->obj;
    train_config *t = &opts->train;
    switch (opt) {
    case TOPT_EPOCHS:
        /* 0 epochs would write an untrained file as if trained. */
        t->epochs = cli_parse_long(cli, "--epochs", arg, 1, 1000000000);
        opts->epochs_given = 1;
        return 1;
    case TOPT_LR: t->lr = cli_parse_double(cli, "--lr", arg, 1e-15, 1e3); return 1;
    case TOPT_BATCH: t->batch_images = (size_t)cli_parse_long(cli, "--batch", arg, 1, 1L << 31); return 1;
    case TOPT_LR_REF: opts->lr_ref_batch = cli_parse_double(cli, "--lr-ref-batch", arg, 0, 1e12); return 1;
    case TOPT_OBJECTIVE:
        if (strcmp(arg, "sum") && strcmp(arg, "constrained"))
            cli_usage_error(cli, "--objective: expected sum or constrained, got '%s'", arg);
        t->constrained = !strcmp(arg, "constrained");
        return 1;
    case TOPT_LOSSES: opts->losses = arg; return 1;
    case TOPT_WEIGHT: parse_term_value(cli, "--weight", arg, o->weight); return 1;
    case TOPT_BOUND: {
        double bounds[TERM_COUNT];
        for (int j = 0; j < TERM_COUNT; j++)
            bounds[j] = NAN;
        parse_term_value(cli, "--bound", arg, bounds);
        for (int j = 0; j < TERM_COUNT; j++)
            if (!isnan(bounds[j])) {
                o->bound[j] = bounds[j];
                o->constrained[j] = 1;
            }
        return 1;
    }
    case TOPT_GAMMA: o->pixel.gamma = cli_parse_double(cli, "--gamma", arg, 1e-3, 100); return 1;
    case TOPT_TAU: o->pixel.tau = cli_parse_double(cli, "--tau", arg, 1e-9, 1e9); return 1;
    case TOPT_RHO: o->pixel.rho = cli_parse_double(cli, "--rho", arg, 0, 0.999999); return 1;
    case TOPT_NU: o->pixel.nu = cli_parse_double(cli, "--nu", arg, 1.000001, 100); return 1;
    case TOPT_KAPPA:
        cli_parse_range(cli, "--kappa", arg, &o->kappa_lo, &o->kappa_hi);
        return 1;
    case TOPT_AL_EVERY: t->al_every = (int)cli_parse_long(cli, "--al-every", arg, 1, 1000000000); return 1;
    case TOPT_AL_PENALTY: t->al_penalty = cli_parse_double(cli, "--al-penalty", arg, 1e-12, 1e12); return 1;
    case TOPT_AL_GROWTH: t->al_growth = cli_parse_double(cli, "--al-growth", arg, 1, 1e6); return 1;
    case TOPT_AL_PENALTY_MAX: t->al_penalty_max = cli_parse_double(cli, "--al-penalty-max", arg, 1e-12, 1e15); return 1;
    case TOPT_AL_MEASURE:
        if (strcmp(arg, "full") && strcmp(arg, "epoch"))
            cli_usage_error(cli, "--al-measure: expected full or epoch, got '%s'", arg);
        t->al_full_data = !strcmp(arg, "full");
        return 1;
    case TOPT_PLATEAU: {
        double factor;
        int patience, cooldown;
        char extra;
        if (sscanf(arg, "%lf:%d:%d%c", &factor, &patience, &cooldown, &extra) != 3 || factor <= 0 ||
            factor > 1 || patience < 0 || cooldown < 0)
            cli_usage_error(cli, "--plateau: expected FACTOR:PATIENCE:COOLDOWN with 0 < FACTOR <= 1, got '%s'", arg);
        t->plateau_factor = factor;
        t->plateau_patience = patience;
        t->plateau_cooldown = cooldown;
        return 1;
    }
    case TOPT_CHECKPOINT_EVERY: t->checkpoint_every = cli_parse_long(cli, "--checkpoint-every", arg, 0, 1000000000); return 1;
    case TOPT_CHECKPOINT: opts->checkpoint = arg; return 1;
    case TOPT_RESUME: t->resume = 1; return 1;
    case TOPT_DIAGNOSE: opts->diagnose = arg; return 1;
    case TOPT_COVERAGE:
        if (!strcmp(arg, "mean"))
            o->pixel.coverage = LOSS_COVERAGE_MEAN;
        else if (!strcmp(arg, "per-detector"))
            o->pixel.coverage = LOSS_COVERAGE_PER_DETECTOR;
        else if (!strcmp(arg, "soft"))
            o->pixel.coverage = LOSS_COVERAGE_SOFT;
        else
            cli_usage_error(cli, "--coverage: expected mean, per-detector or soft, got '%s'", arg);
        return 1;
    case TOPT_TAU_SCHEDULE: {
        char extra;
        if (sscanf(arg, "%lf:%ld%c", &opts->tau_to, &opts->tau_epochs, &extra) != 2 || !(opts->tau_to > 0) ||
            opts->tau_to > 1e9 || opts->tau_epochs < 1)
            cli_usage_error(cli, "--tau-schedule: expected TO:EPOCHS with TO > 0 and EPOCHS >= 1, got '%s'", arg);
        return 1;
    }
    case TOPT_PRECISION:
        if (strcmp(arg, "float32") && strcmp(arg, "float64"))
            cli_usage_error(cli, "--precision: expected float32 or float64");
        opts->precision_arg = arg;
        return 1;
    default: return 0;
    }
}

static void enable_losses(train_options *opts, const cli_common *cli, const char *allowed)
{
    const char *p = opts->losses;
    if (!*p)
        cli_usage_error(cli, "--losses: no loss terms given (allowed: %s)", allowed);
    while (*p) {
        size_t len = strcspn(p, ",");
        term_id j = parse_term(cli, "--losses", p, len);
        if (!objective_term_listed(allowed, j))
            cli_usage_error(cli, "--losses: '%s' is not a loss of this step (allowed: %s)", term_names[j], allowed);
        if (opts->obj.enabled[j])
            cli_usage_error(cli, "--losses: '%s' is listed twice in '%s'", term_names[j], opts->losses);
        opts->obj.enabled[j] = 1;
        p += len + (p[len] == ',');
    }
}

/* FNV-1a over the arguments that change the result. */
static uint64_t fingerprint(const cli_common *cli)
{
    static const char *const ignored[] = {"--resume", "--quiet", "--overwrite", "--checkpoint-every",
                                          "--checkpoint", "--epochs"};
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int k = 1; k < cli->argc; k++) {
        const char *arg = cli->argv[k];
        int skip = 0;
        for (size_t j = 0; j < sizeof ignored / sizeof ignored[0]; j++)
            if (!strncmp(arg, ignored[j], strlen(ignored[j])))
                skip = 1 + (strchr(arg, '=') == NULL && strcmp(ignored[j], "--resume") &&
                            strcmp(ignored[j], "--quiet") && strcmp(ignored[j], "--overwrite"));
        if (skip) {
            k += skip - 1; /* also skip a separate value */
            continue;
        }
        for (const char *c = arg; *c; c++)
            h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;
    }
    return h;
}

void trainopts_finish(train_options *opts, const cli_common *cli, const char *allowed)
{
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
    t->fingerprint = fingerprint(cli);
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
         (t->tau_schedule.tau && (h5out_attr_double(out, "/", "tau_final", t->tau_schedule.to) ||
                                  h5out_attr_int(out, "/", "tau_schedule_epochs", t->tau_schedule.epochs))) ||
         h5out_attr_string(out, "/", "coverage",
                           o->pixel.coverage == LOSS_COVERAGE_PER_DETECTOR ? "per-detector"
                           : o->pixel.coverage == LOSS_COVERAGE_SOFT       ? "soft"
                                                                           : "mean") ||
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
