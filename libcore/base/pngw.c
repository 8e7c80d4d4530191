/* pngw — see pngw.h. */
#include "pngw.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC of type + data) at *at. */
static void put_chunk(uint8_t *buf, size_t *at, const char type[4], const uint8_t *data, size_t len)
{
    uint8_t *p = buf + *at;
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    uLong crc = crc32(0L, p + 4, (uInt)(len + 4));
    put_be32(p + 8 + len, (uint32_t)crc);
    *at += 12 + len;
}

int pngw_encode_gray(const uint8_t *pixels, size_t height, size_t width, uint8_t **png, size_t *size)
{
    *png = NULL;
    *size = 0;
    if (!height || !width || height > 1u << 24 || width > 1u << 24)
        return error_set(EX_SOFTWARE, "PNG of %zux%zu pixels: expected 1..2^24 per side", height, width);
    size_t raw_len = height * (width + 1);
    uint8_t *raw = malloc(raw_len);
    uLongf packed_len = compressBound((uLong)raw_len);
    uint8_t *packed = malloc(packed_len);
    uint8_t *buf = malloc(packed_len + 8 + 3 * 12 + 13);
    if (!raw || !packed || !buf) {
        free(raw); free(packed); free(buf);
        return error_set(EX_OSERR, "out of memory for a %zux%zu PNG", height, width);
    }
    for (size_t y = 0; y < height; y++) {
        raw[y * (width + 1)] = 0;   /* filter type None */
        memcpy(raw + y * (width + 1) + 1, pixels + y * width, width);
    }
    int zrc = compress2(packed, &packed_len, raw, (uLong)raw_len, 9);
    free(raw);
    if (zrc != Z_OK) {
        free(packed); free(buf);
        return error_set(EX_SOFTWARE, "zlib could not compress the PNG data (%d)", zrc);
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;   /* bit depth */
    ihdr[9] = 0;   /* grayscale */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;   /* deflate, adaptive filtering, no interlace */
    size_t at = 8;
    memcpy(buf, signature, 8);
    put_chunk(buf, &at, "IHDR", ihdr, 13);
    put_chunk(buf, &at, "IDAT", packed, packed_len);
    put_chunk(buf, &at, "IEND", NULL, 0);
    free(packed);
    *png = buf;
    *size = at;
    return 0;
}
