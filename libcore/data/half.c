/* half — see half.h. */
#include "half.h"

#include <string.h>

uint16_t half_from_float(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) /* NaN: quiet, the top payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
    if (magnitude >= 0x477ff000u) /* |x| >= 65520 (and Inf): rounds past 65504 */
        return (uint16_t)(sign | 0x7c00u);
    if (magnitude >= 0x38800000u) {
        /* Normal half: rebias the exponent (127 → 15) and drop 13 mantissa
         * bits, adding just under half an ulp plus the kept lowest bit, so
         * that ties go to even. A carry into the exponent is correct. */
        uint32_t rebiased = magnitude - ((uint32_t)(127 - 15) << 23);
        uint32_t round = 0xfffu + ((rebiased >> 13) & 1u);
        return (uint16_t)(sign | ((rebiased + round) >> 13));
    }
    if (magnitude <= 0x33000000u) /* |x| <= 2^-25: rounds to zero (2^-25 is a tie) */
        return sign;
    /* Subnormal half: q = |x| / 2^-24 = mantissa · 2^(exponent − 126),
     * rounded to nearest even; q = 0x400 is the smallest normal, correctly. */
    uint32_t exponent = magnitude >> 23, mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exponent; /* 14..24 */
    uint32_t q = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

float half_to_float(uint16_t half)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13); /* Inf, NaN (payload kept) */
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13); /* rebias 15 → 127 */
    } else if (mantissa == 0) {
        bits = sign; /* ±0 */
    } else {
        /* Subnormal mantissa·2^-24: shift until the implicit bit appears. */
        uint32_t e = 113;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

#define HALF_PARALLEL_MIN ((size_t)1 << 16)

void half_from_floats(const float *values, size_t n, uint16_t *halves)
{
#pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++)
        halves[k] = half_from_float(values[k]);
}

void half_to_floats(const uint16_t *halves, size_t n, float *values)
{
#pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++)
        values[k] = half_to_float(halves[k]);
}
