/* pngw — an 8-bit grayscale PNG encoder over zlib (no libpng): signature,
 * IHDR (bit depth 8, colour type 0), one IDAT of the zlib-compressed
 * scanlines (filter 0 on every row), IEND; CRCs by zlib's crc32. For figures
 * a reader looks at (imgset --png).
 *
 * Stage: base. Writes one PNG file. */
#ifndef EDDP_PNGW_H
#define EDDP_PNGW_H

#include <stddef.h>
#include <stdint.h>

/* Encodes pixels [height × width] (row-major, 0 = black) into a new buffer
 * *png of *size bytes (free()). EX_SOFTWARE/EX_OSERR on failure. */
int pngw_encode_gray(const uint8_t *pixels, size_t height, size_t width, uint8_t **png, size_t *size);

#endif
