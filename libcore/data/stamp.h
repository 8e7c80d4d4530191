/* stamp — the watermark: TEXT in a built-in 3×5 bitmap font (in this file,
 * identical on every machine), white glyphs on a black box, at the top-left
 * corner of an image.
 *
 * Geometry at scale s (each font pixel an s×s block): a glyph is 3s wide and
 * 5s tall, glyphs are s apart, and the box adds s on every side:
 *   box width  = s·(4·len − 1) + 2s,  box height = 5s + 2s,
 * the box's top-left corner at pixel (0, 0), the text's at (s, s). Letters
 * are case-insensitive (lowercase prints as uppercase).
 *
 * Stage: data (the watermark experiment). Draws into image buffers in
 * memory, no files. */
#ifndef EDDP_STAMP_H
#define EDDP_STAMP_H

#include <stddef.h>
#include <stdint.h>

#define STAMP_GLYPH_W 3
#define STAMP_GLYPH_H 5
#define STAMP_INK 255   /* glyph pixels */
#define STAMP_PAPER 0   /* the rest of the box */

/* 1 when every character of text has a glyph; else 0 and *bad = the first
 * character without one. */
int stamp_text_ok(const char *text, char *bad);
/* The box's size in pixels for text at scale (text non-empty). */
void stamp_box_size(const char *text, int scale, size_t *height, size_t *width);
/* 1 when font pixel (row, col) of character ch is inked, row < 5, col < 3. */
int stamp_glyph_pixel(char ch, int row, int col);
/* Renders the stamp's coverage of an h×w image: mask[y·w + x] = 2 on glyph
 * pixels, 1 on the box's other pixels, 0 outside the box. The box must fit
 * (stamp_box_size <= h, w). */
void stamp_render(const char *text, int scale, size_t h, size_t w, uint8_t *mask);
/* Applies a rendered mask to an image [channels × h × w]: every channel is
 * STAMP_INK where mask = 2, STAMP_PAPER where mask = 1, unchanged where 0. */
void stamp_apply(const uint8_t *mask, size_t channels, size_t h, size_t w, uint8_t *image);

#endif
