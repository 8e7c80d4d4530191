/* shards — joining feature files made in pieces (several jobs, several
 * synthgen seeds) into one, images in the order the shards are given.
 *
 * Per-image datasets (shards_is_per_image: /features, /labels, the numeric
 * maps under /concepts, /truth/alpha, /truth/beta) are concatenated along
 * their first dimension, streamed in batches (memory stays at one batch);
 * every other dataset is copied from the first shard and must be equal in
 * every shard. Attributes of datasets and groups come from the first shard;
 * root attributes are carried when every shard has the same value, except
 * those describing one run (shards_is_run_attr), which the caller writes
 * afresh with its provenance. */
#ifndef EDDP_SHARDS_H
#define EDDP_SHARDS_H

#include "features.h"
#include "h5io.h"

typedef struct {
    h5in in;
    features_file ff;
    h5io_names datasets, groups;   /* every dataset and group, from h5in_walk */
} shard;

/* 1 when dataset name of in runs over images (by the features contract,
 * man/man5/eddp-files.5); a string dataset under /concepts is per file. */
int shards_is_per_image(h5in *in, const char *name);
/* 1 for the root attributes that describe one run, not the data (format,
 * provenance): never carried into the joined file. */
int shards_is_run_attr(const char *name);

/* Opens the n shard files (paths[k], "-" = stdin) as eddp-features files,
 * lists their contents and checks that C, H and W agree with the first.
 * shards must be zeroed; close with shards_close even on failure. */
int shards_open(shard *shards, int n, char *const *paths);
/* Every shard holds the same datasets; per-image ones have the shard's N
 * rows, a type they are copied with and the first shard's trailing shape;
 * per-file ones are equal in every shard. */
int shards_check(shard *shards, int n);
/* Writes the joined datasets, groups and root attributes into out (created
 * by the caller, which adds provenance and commits). progress (may be NULL)
 * is called after each dataset with (ctx, done, total). */
int shards_write(shard *shards, int n, h5out *out, void (*progress)(void *ctx, size_t done, size_t total),
                 void *progress_ctx);
void shards_close(shard *shards, int n);

#endif
