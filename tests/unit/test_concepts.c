/* test_concepts — concepts_list on good and broken /concepts groups (the
 * broken one is the regression test of the leak `make fuzz` found: a
 * failing concepts_list left its partly checked categories allocated); the
 * concept id space (concepts_vocab_build), the grouping by resolution and
 * the same-categories check on hand-made categories. */
#include "concepts.h"
#include "error.h"
#include "h5io.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A features-format file with /concepts/a (good, [4,1,2]) and, when
 * broken, /concepts/b of rank 1 (invalid). */
static int make_file(const char *path, int broken)
{
    h5out out;
    hsize_t good[3] = {4, 1, 2}, bad[1] = {4};
    int32_t maps[8] = {0, 1, 1, 0, 0, 0, 1, 1};
    if (h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
        h5out_write(&out, "/concepts/a", H5IO_INT32, 3, good, maps) ||
        (broken && h5out_write(&out, "/concepts/b", H5IO_INT32, 1, bad, maps)) || h5out_commit(&out)) {
        h5out_abort(&out);
        return -1;
    }
    return 0;
}

/* A category as concepts_list and concepts_scan leave it. */
static concept_category category(const char *name, int image_level, size_t hm, size_t wm, size_t width,
                                 int max_label, char **names, int n_names)
{
    concept_category c = {.image_level = image_level, .hm = hm, .wm = wm, .width = width,
                          .max_label = max_label, .names = names, .n_names = n_names};
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.path, sizeof c.path, "/concepts/%s", name);
    return c;
}

static void test_vocab(void)
{
    char *object_names[2] = {"sky", "tree"};
    /* object: named maps (L = 2); part: unnamed maps, labels up to 3 on
     * train, 4 on val; scene: image-level, L = 2 */
    concept_category train[3] = {category("object", 0, 4, 4, 16, 2, object_names, 2),
                                 category("part", 0, 8, 8, 64, 3, NULL, 0),
                                 category("scene", 1, 0, 0, 2, 1, NULL, 0)};
    concept_category val[3] = {category("object", 0, 4, 4, 16, 1, NULL, 0),
                               category("part", 0, 8, 8, 64, 4, NULL, 0),
                               category("scene", 1, 0, 0, 2, 2, NULL, 0)};
    concepts_vocab v;
    error_clear();
    CHECK(concepts_vocab_build(&v, train, "t.h5", val, "v.h5", 3) == 0, "vocab: %s", error_message());
    CHECK(v.n_con == 1 + 2 + 4 + 2, "n_con = 1 + 2 + 4 + 2 (got %zu)", v.n_con);
    CHECK(v.offset[0] == 0 && v.offset[1] == 2 && v.offset[2] == 6, "offsets %d %d %d", v.offset[0],
          v.offset[1], v.offset[2]);
    const char *want[9] = {"none", "sky", "tree", "part:1", "part:2", "part:3", "part:4", "scene:1", "scene:2"};
    const int want_cat[9] = {0, 0, 0, 1, 1, 1, 1, 2, 2};
    for (int c = 0; c < 9 && v.n_con == 9; c++)
        CHECK(!strcmp(v.con_name[c], want[c]) && v.con_cat[c] == want_cat[c], "concept %d: %s of %d", c,
              v.con_name[c], v.con_cat[c]);
    concepts_vocab_free(&v);

    CHECK(concepts_vocab_build(&v, train, "t.h5", NULL, NULL, 3) == 0 && v.n_con == 1 + 2 + 3 + 2,
          "train only: the train labels (n_con %zu)", v.n_con);
    concepts_vocab_free(&v);

    val[0].max_label = 3;   /* beyond the 2 names of train's object */
    error_clear();
    CHECK(concepts_vocab_build(&v, train, "t.h5", val, "v.h5", 3) == EX_DATAERR &&
              strstr(error_message(), "v.h5: '/concepts/object' holds label 3 but its 'names' in t.h5 name only 2"),
          "a label beyond the names: %s", error_message());
    concepts_vocab_free(&v);

    concept_category empty[1] = {category("object", 0, 4, 4, 16, 0, NULL, 0)};
    error_clear();
    CHECK(concepts_vocab_build(&v, empty, "t.h5", NULL, NULL, 1) == EX_DATAERR &&
              strstr(error_message(), "t.h5: the concept annotations hold no label at all"),
          "no label at all: %s", error_message());
    concepts_vocab_free(&v);
    error_clear();
}

static void test_grouping(void)
{
    concept_category cats[4] = {category("a", 0, 8, 8, 64, 1, NULL, 0), category("b", 1, 0, 0, 3, 1, NULL, 0),
                                category("c", 0, 4, 4, 16, 1, NULL, 0), category("d", 0, 8, 8, 64, 1, NULL, 0)};
    concepts_grouping g;
    CHECK(concepts_group_by_resolution(&g, cats, 4, 2, 2) == 0, "grouping");
    CHECK(g.n_group == 2, "two resolutions (got %d)", g.n_group);
    if (g.n_group == 2) {
        CHECK(g.groups[0].hm == 8 && g.groups[0].n_map == 2 && g.groups[0].map_cat[0] == 0 &&
                  g.groups[0].map_cat[1] == 3 && g.groups[0].image_level,
              "group 0: 8×8 maps a, d and the image-level categories");
        CHECK(g.groups[1].hm == 4 && g.groups[1].n_map == 1 && g.groups[1].map_cat[0] == 2 &&
                  !g.groups[1].image_level, "group 1: 4×4 map c");
        CHECK(g.group_of[0] == 0 && g.group_of[1] == 0 && g.group_of[2] == 1 && g.group_of[3] == 0,
              "group of each category");
        CHECK(concepts_grouping_values(&g) == 2 * 64, "largest group: 2 layers of 64 values");
    }
    concepts_grouping_free(&g);
    CHECK(concepts_group_by_resolution(&g, cats + 1, 1, 3, 5) == 0 && g.n_group == 1 && g.groups[0].hm == 3 &&
              g.groups[0].wm == 5 && g.groups[0].n_map == 0 && g.groups[0].image_level,
          "image-level only: one group at the feature resolution");
    CHECK(concepts_grouping_values(&g) == 1, "no layers: at least 1 value");
    concepts_grouping_free(&g);
}

static void test_same_categories(void)
{
    char *names_a[2] = {"x", "y"}, *names_b[2] = {"x", "z"};
    concept_category a[2] = {category("object", 0, 4, 4, 16, 2, names_a, 2), category("scene", 1, 0, 0, 2, 1, NULL, 0)};
    concept_category b[2] = {category("object", 0, 2, 2, 4, 1, NULL, 0), category("scene", 1, 0, 0, 2, 2, NULL, 0)};
    error_clear();
    CHECK(concepts_same_categories(a, 2, "a.h5", b, 2, "b.h5") == 0, "same categories (names on one side only)");
    CHECK(concepts_same_categories(a, 2, "a.h5", b, 1, "b.h5") == EX_DATAERR &&
              strstr(error_message(), "b.h5: its concept categories under '/concepts' differ from those of a.h5"),
          "fewer categories: %s", error_message());
    error_clear();
    b[1].width = 3;
    CHECK(concepts_same_categories(a, 2, "a.h5", b, 2, "b.h5") == EX_DATAERR &&
              strstr(error_message(), "b.h5: '/concepts/scene' is image-level but in a.h5 it is image-level"),
          "image-level of another L: %s", error_message());
    error_clear();
    b[1].width = 2;
    b[0].names = names_b;
    b[0].n_names = 2;
    CHECK(concepts_same_categories(a, 2, "a.h5", b, 2, "b.h5") == EX_DATAERR &&
              strstr(error_message(), "b.h5: the concept names of '/concepts/object' differ from those in a.h5"),
          "other names: %s", error_message());
    error_clear();
}

int main(void)
{
    test_vocab();
    test_grouping();
    test_same_categories();
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_concepts.%ld.h5", (long)getpid());
    for (int broken = 0; broken <= 1; broken++) {
        error_clear();
        CHECK(make_file(path, broken) == 0, "make the file: %s", error_message());
        h5in in;
        CHECK(h5in_open(&in, path, H5IO_FORMAT_FEATURES) == 0, "open: %s", error_message());
        concept_category *cats = (concept_category *)1;
        int n_cat = -1;
        int rc = concepts_list(&in, 4, &cats, &n_cat);
        if (broken) {
            CHECK(rc == EX_DATAERR, "a rank-1 category is refused (got %d)", rc);
            CHECK(cats == NULL && n_cat == 0, "a failed list leaves nothing to free");
        } else {
            CHECK(rc == 0 && n_cat == 1, "one good category: rc %d, %d categories", rc, n_cat);
            concepts_free(cats, n_cat);
        }
        h5in_close(&in);
        unlink(path);
    }
    return harness_report("concepts");
}
