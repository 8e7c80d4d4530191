/* stamp — see stamp.h. */
#include "stamp.h"

#include <ctype.h>
#include <string.h>

/* The font: one row of 3 bits per byte (bit 2 = left column), 5 rows. */
typedef struct {
    char ch;
    uint8_t rows[STAMP_GLYPH_H];
} glyph;

static const glyph font[] = {
    {' ', {0, 0, 0, 0, 0}}, {'!', {2, 2, 2, 0, 2}}, {'+', {0, 2, 7, 2, 0}},
    {'-', {0, 0, 7, 0, 0}}, {'.', {0, 0, 0, 0, 2}}, {'/', {1, 1, 2, 4, 4}},
    {':', {0, 2, 0, 2, 0}}, {'_', {0, 0, 0, 0, 7}},
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {6, 1, 2, 4, 7}},
    {'3', {6, 1, 2, 1, 6}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 6, 1, 6}},
    {'6', {3, 4, 7, 5, 7}}, {'7', {7, 1, 2, 2, 2}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 6}},
    {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}},
    {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}},
    {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}}, {'I', {7, 2, 2, 2, 7}},
    {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
    {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}},
    {'P', {6, 5, 6, 4, 4}}, {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}}, {'U', {5, 5, 5, 5, 7}},
    {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
    {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
};

static const glyph *find_glyph(char ch)
{
    char up = (char)toupper((unsigned char)ch);
    for (size_t k = 0; k < sizeof font / sizeof font[0]; k++)
        if (font[k].ch == up)
            return font + k;
    return NULL;
}

int stamp_text_ok(const char *text, char *bad)
{
    for (const char *c = text; *c; c++)
        if (!find_glyph(*c)) {
            if (bad)
                *bad = *c;
            return 0;
        }
    return 1;
}

void stamp_box_size(const char *text, int scale, size_t *height, size_t *width)
{
    size_t len = strlen(text);
    *width = (size_t)scale * ((STAMP_GLYPH_W + 1) * len - 1 + 2);
    *height = (size_t)scale * (STAMP_GLYPH_H + 2);
}

int stamp_glyph_pixel(char ch, int row, int col)
{
    const glyph *g = find_glyph(ch);
    return g && (g->rows[row] >> (STAMP_GLYPH_W - 1 - col) & 1);
}

void stamp_render(const char *text, int scale, size_t h, size_t w, uint8_t *mask)
{
    size_t box_h, box_w, s = (size_t)scale;
    stamp_box_size(text, scale, &box_h, &box_w);
    memset(mask, 0, h * w);
    for (size_t y = 0; y < box_h && y < h; y++)
        for (size_t x = 0; x < box_w && x < w; x++)
            mask[y * w + x] = 1;
    for (size_t k = 0; text[k]; k++)
        for (int row = 0; row < STAMP_GLYPH_H; row++)
            for (int col = 0; col < STAMP_GLYPH_W; col++) {
                if (!stamp_glyph_pixel(text[k], row, col))
                    continue;
                size_t y0 = s + s * (size_t)row, x0 = s + s * ((STAMP_GLYPH_W + 1) * k + (size_t)col);
                for (size_t dy = 0; dy < s; dy++)
                    for (size_t dx = 0; dx < s; dx++)
                        if (y0 + dy < h && x0 + dx < w)
                            mask[(y0 + dy) * w + x0 + dx] = 2;
            }
}

void stamp_apply(const uint8_t *mask, size_t channels, size_t h, size_t w, uint8_t *image)
{
    for (size_t c = 0; c < channels; c++)
        for (size_t p = 0; p < h * w; p++)
            if (mask[p])
                image[c * h * w + p] = mask[p] == 2 ? STAMP_INK : STAMP_PAPER;
}
