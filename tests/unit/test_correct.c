/* test_correct — Eq. 18 (correct.h): k = 0 is the identity, a pixel with
 * m = 0 is unchanged, ReLU clamps, the signal direction lowers the logit by
 * exactly k at m = 1, direction scaling, the mask is σ(wᵀx − b), random
 * directions are reproducible per trial and of the asked length. */
#include "correct.h"
#include "error.h"
#include "harness.h"

#include <math.h>
#include <string.h>

#define C 4
#define HW 3

static double norm(const double *v, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += v[k] * v[k];
    return sqrt(s);
}

static void test_identity_and_mask(void)
{
    /* NCHW image [C × HW], non-negative (post-ReLU features) */
    float x[C * HW] = {0.5f, 1, 2, 3, 0, 0.25f, 1.5f, 2.5f, 4, 0.1f, 0.2f, 0.3f};
    double w[C] = {0.3, -0.2, 0.5, 1.0}, b = 0.7, v[C] = {1, 2, -1, 0.5};
    float out[C * HW], mask[HW];
    correct_image(x, C, HW, w, b, 0.0, v, 1, out, mask);
    CHECK(!memcmp(x, out, sizeof x), "k = 0 leaves every value unchanged");
    for (int p = 0; p < HW; p++) {
        double logit = -b;
        for (int c = 0; c < C; c++)
            logit += w[c] * x[c * HW + p];
        CHECK_CLOSE(mask[p], 1 / (1 + exp(-logit)), 1e-7, "mask = sigmoid(w.x - b)");
    }
    /* a pixel with m = 0 is unchanged, whatever k */
    float px[C] = {1, 2, 3, 4}, po[C];
    correct_pixel(px, 1, C, 0.0, 1e6, v, 1, po);
    CHECK(!memcmp(px, po, sizeof px), "m = 0: pixel unchanged");
    /* and a pixel far below the hyperplane is unchanged to rounding */
    double wb[C] = {1, 1, 1, 1};
    float xs[C] = {0, 0, 0, 0};
    CHECK(correct_mask(wb, 800.0, xs, 1, C) == 0.0, "logit -800: mask exactly 0 (no overflow)");
    CHECK(correct_mask(wb, -800.0, xs, 1, C) == 1.0, "logit +800: mask exactly 1");
}

static void test_relu_and_alias(void)
{
    double v[C] = {1, -1, 2, 0};
    float px[C] = {0.5f, 0.5f, 3, 1}, po[C];
    correct_pixel(px, 1, C, 1.0, 1.0, v, 1, po);
    CHECK(po[0] == 0.0f, "ReLU clamps 0.5 - 1 to 0 (got %g)", po[0]);
    CHECK(po[1] == 1.5f, "the negative direction component adds (got %g)", po[1]);
    CHECK(po[2] == 1.0f && po[3] == 1.0f, "3 - 2 = 1, unmoved channel kept");
    correct_pixel(px, 1, C, 1.0, 1.0, v, 0, po);
    CHECK(po[0] == -0.5f, "without ReLU the value goes negative (got %g)", po[0]);
    correct_pixel(px, 1, C, 0.5, 2.0, v, 0, px);   /* in place: m·k = 1 */
    CHECK(px[0] == -0.5f && px[1] == 1.5f && px[2] == 1.0f && px[3] == 1.0f, "in place, m*k = 1");
}

static void test_signal_direction(void)
{
    double w[C] = {0.4, -0.3, 0.2, 0.1}, s[C] = {2, -1, 0.5, 3}, v[C];
    CHECK(correct_signal_direction(w, s, C, v) == 0, "direction of a raising signal vector");
    double wv = 0;
    for (int c = 0; c < C; c++)
        wv += w[c] * v[c];
    CHECK_CLOSE(wv, 1.0, 1e-14, "w.v = 1");
    CHECK_CLOSE(v[0] / v[3], s[0] / s[3], 1e-14, "v parallel to s");
    /* at m = 1 (logit large) the logit drops by exactly k (no ReLU) */
    float px[C] = {30, -10, 20, 40}, po[C];
    double b = 1.0, k = 7.5;
    correct_pixel(px, 1, C, 1.0, k, v, 0, po);
    double before = -b, after = -b;
    for (int c = 0; c < C; c++) {
        before += w[c] * px[c];
        after += w[c] * po[c];
    }
    CHECK_CLOSE(before - after, k, 1e-5, "logit lowered by k");
    /* scaling s does not change v */
    double s10[C], v10[C];
    for (int c = 0; c < C; c++)
        s10[c] = 10 * s[c];
    correct_signal_direction(w, s10, C, v10);
    for (int c = 0; c < C; c++)
        CHECK_CLOSE(v10[c], v[c], 1e-14, "v independent of the scale of s");
    double anti[C] = {-2, 1, -0.5, -3};
    error_clear();
    CHECK(correct_signal_direction(w, anti, C, v) == EX_DATAERR, "a vector lowering the logit is refused");
    double ortho[C] = {0.3, 0.4, 0, 0};
    error_clear();
    CHECK(correct_signal_direction(w, ortho, C, v) == EX_DATAERR, "an orthogonal vector is refused");
    error_clear();
}

static void test_scaling_and_random(void)
{
    double d[C] = {3, 0, 4, 0}, out[C];
    CHECK(correct_scale_to(d, C, 2.0, out) == 0, "scale");
    CHECK_CLOSE(out[0], 1.2, 1e-15, "3/5*2");
    CHECK_CLOSE(out[2], 1.6, 1e-15, "4/5*2");
    CHECK(correct_scale_to(d, C, 1.0, d) == 0 && fabs(norm(d, C) - 1) < 1e-15, "in place, unit length");
    double zero[C] = {0};
    error_clear();
    CHECK(correct_scale_to(zero, C, 1.0, out) == EX_DATAERR, "zero direction refused");
    error_clear();
    double r0[C], r0b[C], r1[C];
    correct_random_direction(7, 0, C, 3.5, r0);
    correct_random_direction(7, 1, C, 3.5, r1);
    correct_random_direction(7, 0, C, 3.5, r0b);
    CHECK(!memcmp(r0, r0b, sizeof r0), "trial 0 reproducible");
    CHECK(memcmp(r0, r1, sizeof r0) != 0, "trials differ");
    CHECK_CLOSE(norm(r0, C), 3.5, 1e-14, "random direction of the asked length");
    CHECK_CLOSE(norm(r1, C), 3.5, 1e-14, "random direction of the asked length (trial 1)");
    double r2[C];
    correct_random_direction(8, 0, C, 3.5, r2);
    CHECK(memcmp(r0, r2, sizeof r0) != 0, "seeds differ");
    /* directions spread over the sphere: the mean of 2000 unit draws ~ 0 */
    double mean[C] = {0};
    for (long t = 0; t < 2000; t++) {
        double r[C];
        correct_random_direction(3, t, C, 1.0, r);
        for (int c = 0; c < C; c++)
            mean[c] += r[c] / 2000;
    }
    CHECK(norm(mean, C) < 0.06, "random directions have mean ~0 (|mean| = %g)", norm(mean, C));
}

int main(void)
{
    test_identity_and_mask();
    test_relu_and_alias();
    test_signal_direction();
    test_scaling_and_random();
    return harness_report("correct");
}
