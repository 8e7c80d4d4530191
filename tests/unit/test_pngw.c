/* test_pngw — the grayscale PNG encoder: signature, IHDR fields, every
 * chunk's CRC, and the IDAT inflating back to the filtered scanlines. */
#include "harness.h"
#include "pngw.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(void)
{
    enum { H = 5, W = 7 };
    uint8_t pix[H * W];
    for (int k = 0; k < H * W; k++)
        pix[k] = (uint8_t)(k * 37);
    uint8_t *png;
    size_t size;
    CHECK(pngw_encode_gray(pix, H, W, &png, &size) == 0, "encode");
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(size > 8 + 3 * 12 && !memcmp(png, signature, 8), "signature");
    size_t at = 8;
    const char *want[3] = {"IHDR", "IDAT", "IEND"};
    int crc_ok = 1, order_ok = 1;
    uint8_t *idat = NULL;
    size_t idat_len = 0;
    for (int c = 0; c < 3 && at + 12 <= size; c++) {
        uint32_t len = be32(png + at);
        order_ok &= !memcmp(png + at + 4, want[c], 4);
        crc_ok &= be32(png + at + 8 + len) == (uint32_t)crc32(0L, png + at + 4, len + 4);
        if (c == 0)
            CHECK(len == 13 && be32(png + at + 8) == W && be32(png + at + 12) == H && png[at + 16] == 8 &&
                      png[at + 17] == 0,
                  "IHDR: %dx%d, 8-bit grayscale", W, H);
        if (c == 1) {
            idat = png + at + 8;
            idat_len = len;
        }
        at += 12 + len;
    }
    CHECK(order_ok && at == size, "IHDR, IDAT, IEND and nothing else");
    CHECK(crc_ok, "every chunk's CRC");
    uint8_t raw[H * (W + 1)];
    uLongf raw_len = sizeof raw;
    CHECK(idat && uncompress(raw, &raw_len, idat, idat_len) == Z_OK && raw_len == sizeof raw, "IDAT inflates");
    int rows_ok = 1;
    for (int y = 0; y < H; y++)
        rows_ok &= raw[y * (W + 1)] == 0 && !memcmp(raw + y * (W + 1) + 1, pix + y * W, W);
    CHECK(rows_ok, "scanlines: filter 0, then the row's pixels");
    free(png);
    CHECK(pngw_encode_gray(pix, 0, W, &png, &size) != 0 && png == NULL, "an empty image is refused");
    return harness_report("pngw");
}
