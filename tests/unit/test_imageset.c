/* test_imageset — the mapping of pixel label maps onto the feature grid
 * (rules any and majority) and the network's input scaling and layout. */
#include "harness.h"

#include "imageset.h"

#include <stdint.h>
#include <string.h>

static void test_cell_rules(void)
{
    /* a 6×4 map onto 2×2 cells of 3×2 pixels: 1 = clean, 2 = mark, 0 = none */
    const int32_t map[6 * 4] = {
        2, 1, 1, 1,
        1, 1, 1, 1,
        1, 1, 0, 0,
        0, 0, 3, 3,
        0, 0, 3, 2,
        0, 1, 3, 3,
    };
    int32_t cells[4];
    imageset_cell_labels(map, 6, 4, 2, 2, CELL_ANY, cells);
    /* top-left: one mark pixel wins; top-right: only 1 and 0 → 1 (0 never wins);
     * bottom-left: 0 and one 1 → 1; bottom-right: 3 (4 px) and 2 (1 px) → 2 */
    CHECK(cells[0] == 2 && cells[1] == 1 && cells[2] == 1 && cells[3] == 2, "any: %d %d %d %d", cells[0], cells[1],
          cells[2], cells[3]);
    imageset_cell_labels(map, 6, 4, 2, 2, CELL_MAJORITY, cells);
    CHECK(cells[0] == 1 && cells[1] == 1 && cells[2] == 0 && cells[3] == 3, "majority: %d %d %d %d", cells[0],
          cells[1], cells[2], cells[3]);
    /* image: every cell gets the label "any" gives the whole map (2, the rarest) */
    imageset_cell_labels(map, 6, 4, 2, 2, CELL_IMAGE, cells);
    CHECK(cells[0] == 2 && cells[1] == 2 && cells[2] == 2 && cells[3] == 2, "image: %d %d %d %d", cells[0],
          cells[1], cells[2], cells[3]);
    /* an all-zero block stays 0 under both rules */
    const int32_t zeros[4] = {0, 0, 0, 0};
    imageset_cell_labels(zeros, 2, 2, 1, 1, CELL_ANY, cells);
    CHECK(cells[0] == 0, "any on an unannotated block: %d", cells[0]);
    /* ties: the smaller label (any: equal counts; majority: equal counts) */
    const int32_t tie[4] = {5, 4, 4, 5};
    imageset_cell_labels(tie, 2, 2, 1, 1, CELL_ANY, cells);
    CHECK(cells[0] == 4, "any tie: %d", cells[0]);
    imageset_cell_labels(tie, 2, 2, 1, 1, CELL_MAJORITY, cells);
    CHECK(cells[0] == 4, "majority tie: %d", cells[0]);
    /* 28×28 onto 2×2: 14×14 blocks; one mark pixel at (13, 14) is the top-right cell's */
    int32_t big[28 * 28];
    for (int j = 0; j < 28 * 28; j++)
        big[j] = 1;
    big[13 * 28 + 14] = 2;
    imageset_cell_labels(big, 28, 28, 2, 2, CELL_ANY, cells);
    CHECK(cells[0] == 1 && cells[1] == 2 && cells[2] == 1 && cells[3] == 1, "28x28 blocks: %d %d %d %d", cells[0],
          cells[1], cells[2], cells[3]);
    /* grids that do not divide the map: 5 rows onto 2 cells = rows [0,2) and [2,5) */
    int32_t rows5[5] = {1, 1, 2, 1, 1};
    imageset_cell_labels(rows5, 5, 1, 2, 1, CELL_ANY, cells);
    CHECK(cells[0] == 1 && cells[1] == 2, "uneven blocks: %d %d", cells[0], cells[1]);
}

static void test_gather(void)
{
    /* 3 images of 2 channels × 1 × 2 pixels, NCHW */
    uint8_t pixels[3 * 2 * 2] = {0, 255, 10, 20, /**/ 30, 40, 50, 60, /**/ 70, 80, 90, 100};
    imageset set = {.n_img = 3, .channels = 2, .height = 1, .width = 2, .images = pixels};
    float out[2 * 2 * 2];
    size_t order[2] = {2, 0};
    imageset_gather(&set, order, 0, 2, out);
    /* CNHW: channel 0 of images 2, 0; then channel 1 of images 2, 0 */
    const float want[8] = {70, 80, 0, 255, 90, 100, 10, 20};
    int ok = 1;
    for (int j = 0; j < 8; j++)
        ok &= out[j] == want[j] / 255.0f;
    CHECK(ok, "gather by order: CNHW layout, scaled by 1/255");
    imageset_gather(&set, NULL, 1, 1, out);
    CHECK(out[0] == 30 / 255.0f && out[3] == 60 / 255.0f, "gather from img0");
    CHECK(out[1] * 255.0f > 39.99f && out[1] * 255.0f < 40.01f, "pixel 40 → 40/255");
}

int main(void)
{
    test_cell_rules();
    test_gather();
    return harness_report("test_imageset");
}
