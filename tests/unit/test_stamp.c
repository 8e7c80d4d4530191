/* test_stamp — the watermark's font and geometry (stamp.h): box sizes, the
 * exact mask of a known text, case-insensitivity, unknown characters, that
 * every glyph but the space is inked and distinct, and stamp_apply. */
#include "harness.h"
#include "stamp.h"

#include <stdlib.h>
#include <string.h>

static void test_geometry(void)
{
    size_t h, w;
    stamp_box_size("AB", 1, &h, &w);
    CHECK(h == 7 && w == 9, "box of 'AB' at scale 1 is 7x9 (got %zux%zu)", h, w);
    stamp_box_size("ROOK", 2, &h, &w);
    CHECK(h == 14 && w == 34, "box of 'ROOK' at scale 2 is 14x34 (got %zux%zu)", h, w);
}

static void test_render(void)
{
    /* "1" at scale 1 in a 8x6 image: box 7x5 (rows 0..6, cols 0..4),
     * glyph rows 010 110 010 010 111 at (1,1) */
    static const char *want[8] = {"11111.", "12211.", "11111.", "11211.", "11211.", "12221.", "11111.",
                                  "......"};
    static const char *glyph1[5] = {".2.", "22.", ".2.", ".2.", "222"};
    uint8_t mask[8 * 6];
    stamp_render("1", 1, 8, 6, mask);
    int ok = 1;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 6; x++) {
            int v = mask[y * 6 + x];
            char e = want[y][x];
            if (y >= 1 && y <= 5 && x >= 1 && x <= 3)
                e = glyph1[y - 1][x - 1] == '2' ? '2' : '1';
            if ((e == '.' && v != 0) || (e == '1' && v != 1) || (e == '2' && v != 2))
                ok = 0;
        }
    CHECK(ok, "the mask of '1' is exactly its glyph in a 7x5 box");
    uint8_t lower[28 * 28], upper[28 * 28];
    stamp_render("rook", 1, 28, 28, lower);
    stamp_render("ROOK", 1, 28, 28, upper);
    CHECK(!memcmp(lower, upper, sizeof lower), "lowercase prints as uppercase");
    /* scale 2 replicates each font pixel into a 2x2 block */
    uint8_t s1[7 * 5], s2[14 * 10];
    stamp_render("7", 1, 7, 5, s1);
    stamp_render("7", 2, 14, 10, s2);
    int same = 1;
    for (int y = 0; y < 14; y++)
        for (int x = 0; x < 10; x++)
            same &= s2[y * 10 + x] == s1[(y / 2) * 5 + x / 2];
    CHECK(same, "scale 2 = each pixel of scale 1 as a 2x2 block");
}

static void test_font(void)
{
    char bad = 0;
    CHECK(stamp_text_ok("Ankle boot 42!", &bad), "letters, digits, space and ! have glyphs");
    CHECK(!stamp_text_ok("caf\xc3\xa9", &bad) && bad == '\xc3', "a byte without a glyph is named");
    CHECK(!stamp_text_ok("a*b", &bad) && bad == '*', "'*' has no glyph");
    const char *all = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    int inked = 1, distinct = 1;
    for (const char *a = all; *a; a++) {
        int n = 0;
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                n += stamp_glyph_pixel(*a, r, c);
        inked &= n >= 5;
        for (const char *b = a + 1; *b; b++) {
            int differ = 0;
            for (int r = 0; r < 5; r++)
                for (int c = 0; c < 3; c++)
                    differ |= stamp_glyph_pixel(*a, r, c) != stamp_glyph_pixel(*b, r, c);
            if (!differ) {
                distinct = 0;
                fprintf(stderr, "glyphs %c and %c are the same\n", *a, *b);
            }
        }
    }
    CHECK(inked, "every letter and digit inks at least 5 pixels");
    CHECK(distinct, "no two letters or digits share a glyph");
    int blank = 0;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            blank += stamp_glyph_pixel(' ', r, c);
    CHECK(blank == 0, "space is blank");
}

static void test_apply(void)
{
    uint8_t mask[4] = {0, 1, 2, 0}, image[2 * 4] = {9, 9, 9, 9, 7, 7, 7, 7};
    stamp_apply(mask, 2, 2, 2, image);
    static const uint8_t want[8] = {9, 0, 255, 9, 7, 0, 255, 7};
    CHECK(!memcmp(image, want, 8), "ink 255, paper 0, outside unchanged, every channel");
}

int main(void)
{
    test_geometry();
    test_render();
    test_font();
    test_apply();
    return harness_report("stamp");
}
