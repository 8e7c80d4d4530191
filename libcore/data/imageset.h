/* imageset — an image set as trainnet(1) reads it (format eddp-images,
 * man/man5/eddp-files.5, written by imgset(1)):
 *   /images       uint8 [N, C, H, W]
 *   /labels       int32 [N], in [0, K)
 *   /class_names  strings [K]
 *   /concepts/NAME  int32 [N, H, W] pixel label maps (or [N, L] image-level
 *                 rows), with a `names` string-array attribute,
 * and the mapping of pixel label maps onto a coarser feature grid.
 *
 * Stage: data, feeding the network stage. Reads eddp-images files. */
#ifndef EDDP_IMAGESET_H
#define EDDP_IMAGESET_H

#include "h5io.h"

#include <stddef.h>
#include <stdint.h>

#define IMAGESET_FORMAT "eddp-images"

typedef struct {
    size_t n_img;
    int channels, height, width;
    int n_cls;             /* K = number of class names */
    uint8_t *images;       /* [N × C × H × W] */
    int32_t *labels;       /* [N] */
    char **class_names;    /* [K] */
} imageset;

/* Opens nothing: reads /images, /labels and /class_names of an open input and
 * checks them (uint8 rank 4 with N > 0, int32 [N] labels in [0, K), K >= 1
 * names). EX_DATAERR naming the file and dataset otherwise. */
int imageset_read(h5in *in, imageset *set);
void imageset_free(imageset *set);

/* Pixel scaling of the network's input: x = value / 255 (a float32 division,
 * as PyTorch's ToTensor and numpy compute it), in [0, 1]. */
#define IMAGESET_PIXEL_MAX 255.0f

/* Images order[0..n) (or img0 .. img0 + n − 1 when order is NULL), scaled to
 * [0, 1], into the network's channel-major batch layout cnhw [C × n × H × W]. */
void imageset_gather(const imageset *set, const size_t *order, size_t img0, size_t n, float *cnhw);

/* How a feature cell takes a label from the pixels of its block. */
typedef enum {
    CELL_ANY,      /* the label with the fewest pixels among those present (0 = none only
                      when no label is): a concept marks every cell it touches */
    CELL_MAJORITY, /* the label (0 included) covering most pixels; ties to the smaller */
    CELL_IMAGE     /* every cell the label CELL_ANY gives the whole map: for a layer whose
                      cells each see the whole image (a receptive field wider than it) */
} cell_rule;

/* Maps one pixel label map [hm × wm] onto a grid [gh × gw] (gh <= hm, gw <=
 * wm): cell (r, c) covers map rows [r·hm/gh, (r+1)·hm/gh) and columns
 * [c·wm/gw, (c+1)·wm/gw) (integer division: the blocks tile the map). */
void imageset_cell_labels(const int32_t *map, int hm, int wm, int gh, int gw, cell_rule rule, int32_t *cells);

/* Copies the concept annotations of an image set (in, n_img images) to a
 * features file: pixel label maps [N, Hm, Wm] become [N, gh, gw] by
 * imageset_cell_labels (attribute `cell_rule` records the rule), image-level
 * rows [N, L] are copied; `names` attributes are carried. Nothing is written
 * when the set has no /concepts. Values are checked as concepts_scan does. */
int imageset_copy_concepts(h5in *in, size_t n_img, int gh, int gw, cell_rule rule, h5out *out);
const char *imageset_cell_rule_name(cell_rule rule);

#endif
