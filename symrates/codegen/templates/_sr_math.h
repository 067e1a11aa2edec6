/* exp(x) in plain IEEE double arithmetic, without branches or tables, so that the compiler
   vectorises the loops that call it (libm's exp is a call per element). Within 1.03 ulp of
   the exact value over the whole range (tests/codegen/test_math.py); exp(+-inf), overflow to
   inf, gradual underflow to 0 and NaN behave as libm's. Every lane and the scalar remainder
   run the same operations, so a value does not depend on where a loop was split (threads). */
#include <stdint.h>
#include <string.h>
static inline double _sr_exp(double x) {
    const double magic = 6755399441055744.0;     /* 1.5 * 2**52: adding it rounds to an integer */
    const double log2e = 1.4426950408889634;
    const double ln2hi = 0.6931471805598903;     /* ln 2 = ln2hi + ln2lo; k * ln2hi is exact */
    const double ln2lo = 5.497923018708371e-14;
    double xc = x > 710.0 ? 710.0 : x;           /* NaN passes through both */
    xc = xc < -746.0 ? -746.0 : xc;
    double t = xc * log2e + magic;
    double kd = t - magic;                       /* k = round(x / ln 2) */
    double r = (xc - kd * ln2hi) - kd * ln2lo;   /* |r| <= ln(2) / 2 */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    /* exp(r) - 1 = r + r^2 q(r), q the Taylor polynomial of degree 11 by Estrin's scheme
       (truncation error below 2e-18 for |r| <= ln(2) / 2) */
    double a0 = 0.5 + r * 0.16666666666666666;
    double a1 = 0.041666666666666664 + r * 0.008333333333333333;
    double a2 = 0.001388888888888889 + r * 0.0001984126984126984;
    double a3 = 2.48015873015873e-05 + r * 2.7557319223985893e-06;
    double a4 = 2.755731922398589e-07 + r * 2.505210838544172e-08;
    double a5 = 2.08767569878681e-09 + r * 1.6059043836821613e-10;
    double q = ((a0 + a1 * r2) + (a2 + a3 * r2) * r4) + (a4 + a5 * r2) * r8;
    double p = 1.0 + (r + r2 * q);
    /* 2^k as 2^k1 * 2^k2 (both normal for every k of the clamped range), from the bits of
       t and of h = k / 2 + magic: the integer sits in the low bits of the mantissa */
    double h = kd * 0.5 + magic, m = magic, s1, s2;
    int64_t it, ih, im, k, k1, e1, e2;
    memcpy(&it, &t, 8);
    memcpy(&ih, &h, 8);
    memcpy(&im, &m, 8);
    k = it - im;
    k1 = ih - im;
    e1 = (k1 + 1023) << 52;
    e2 = (k - k1 + 1023) << 52;
    memcpy(&s1, &e1, 8);
    memcpy(&s2, &e2, 8);
    return (p * s1) * s2;
}
/* max and min that pass a NaN on, as numpy's maximum and minimum do (C's fmax and fmin drop
   it, which would hide a diverging state behind a finite one) */
static inline double _sr_fmax(double a, double b) { return (a > b || a != a) ? a : b; }
static inline double _sr_fmin(double a, double b) { return (a < b || a != a) ? a : b; }
