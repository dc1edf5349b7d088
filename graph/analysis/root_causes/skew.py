"""How far a median-based spread estimate must allow for skew: districts' shares of a small
category spread as a beta distribution does, with a long right tail, and the median of their
squared deviations sits below the normal one's.

The robust estimate of the spread between districts (:mod:`.spread`) reads ``med(z²) = 0.455 ·
(1 + φ · size)``, true where a district's deviation is normal. Under the model the district test
assumes (shares beta-distributed around the ordinary share, ``τ² = φ · π(1 − π)``) the shares of
a small category are skewed (a 2 % share at φ = 0.02 spreads as an exponential does): most
districts sit below the mean, and the median of the squared deviations is half the normal one's.
The spread came out at half its value, and between districts that differ for local reasons
(``generate scenario --spread 0.02``) a district at four times the mean of a 2 % category, a
chance of 3 % for each pair, stood at p = 1e-5. :func:`skew_factor` is the ratio by which the
median falls, read from :data:`MEDIAN_RATIO`, which :func:`median_ratio` computes.

The skew is capped at 2, the exponential's: beyond it the median of the squared deviations falls
faster than the spread grows (a median cannot see a tail that long and thin), the estimating
equation would have two roots, and a category that small keeps the exponential's allowance, its
spread still estimated low.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats


# The grids of MEDIAN_RATIO: the skewness of a district's share, and the part of a cell's
# variance that is the spread between districts, w = φ · size / (1 + φ · size).
SKEW_CAP = 2.0
SKEWS = np.linspace(0.0, SKEW_CAP, 21)
SPREAD_PARTS = np.linspace(0.0, 1.0, 21)


def median_ratio(skews, parts, points: int = 800) -> np.ndarray:
    """``med((Z − med Z)²)`` over its normal value (χ²(1)'s median, 0.455) for
    ``Z = √(1 − w) · N + √w · Y``: a cell's sampling noise, normal, and its district's own
    difference ``Y``, standardised and skewed as a gamma of that skewness (the beta of a small
    share is one). Per skewness (rows) and part ``w`` (columns), from ``points`` quantiles of ``Y``,
    by bisection.

    >>> median_ratio([0.0, 2.0], [0.0, 1.0]).round(3).tolist()   # normal: 1; the exponential alone: its MAD² / 0.455
    [[1.0, 1.0], [1.0, 0.509]]
    """
    out = np.ones((len(skews), len(parts)))
    p = (np.arange(points) + 0.5) / points
    for i, skew in enumerate(skews):
        if skew == 0:
            y = stats.norm.ppf(p)
        else:
            shape = 4 / skew ** 2
            y = (stats.gamma.ppf(p, shape) - shape) / np.sqrt(shape)
        for j, w in enumerate(parts):
            sd = max(float(np.sqrt(1 - w)), 1e-3)

            def cdf(z, w=w, sd=sd):
                return float(special.ndtr((z - np.sqrt(w) * y) / sd).mean())

            centre = _bisect(lambda z: cdf(z) - 0.5, -10.0, 10.0)
            half = _bisect(lambda q: cdf(centre + q) - cdf(centre - q) - 0.5, 0.0, 10.0)
            out[i, j] = half ** 2 / stats.chi2.median(1)
    return out


def _bisect(f, lo: float, hi: float, steps: int = 60) -> float:
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


# median_ratio(SKEWS, SPREAD_PARTS), rounded to four places: tests/test_root_causes.py recomputes it.
MEDIAN_RATIO = np.array([
    [1.0000, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 0.9999, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000],
    [1.0000, 0.9999, 0.9999, 0.9998, 0.9998, 0.9997, 0.9997, 0.9996, 0.9996, 0.9995, 0.9994, 0.9993, 0.9992, 0.9992, 0.9991, 0.9990, 0.9989, 0.9988, 0.9988, 0.9987, 0.9987],
    [1.0000, 0.9999, 0.9998, 0.9996, 0.9994, 0.9992, 0.9990, 0.9987, 0.9984, 0.9981, 0.9977, 0.9974, 0.9970, 0.9966, 0.9963, 0.9959, 0.9956, 0.9953, 0.9950, 0.9948, 0.9947],
    [1.0000, 0.9999, 0.9996, 0.9993, 0.9989, 0.9984, 0.9978, 0.9972, 0.9965, 0.9957, 0.9949, 0.9941, 0.9933, 0.9924, 0.9916, 0.9908, 0.9901, 0.9894, 0.9888, 0.9882, 0.9880],
    [1.0000, 0.9998, 0.9994, 0.9989, 0.9981, 0.9972, 0.9962, 0.9950, 0.9938, 0.9924, 0.9910, 0.9896, 0.9881, 0.9866, 0.9852, 0.9838, 0.9824, 0.9812, 0.9801, 0.9791, 0.9785],
    [1.0000, 0.9997, 0.9992, 0.9983, 0.9972, 0.9958, 0.9942, 0.9924, 0.9904, 0.9883, 0.9861, 0.9838, 0.9815, 0.9792, 0.9769, 0.9747, 0.9726, 0.9707, 0.9689, 0.9674, 0.9664],
    [1.0000, 0.9997, 0.9989, 0.9976, 0.9960, 0.9940, 0.9917, 0.9891, 0.9863, 0.9833, 0.9802, 0.9769, 0.9736, 0.9702, 0.9669, 0.9637, 0.9606, 0.9578, 0.9553, 0.9531, 0.9517],
    [1.0000, 0.9996, 0.9985, 0.9968, 0.9946, 0.9920, 0.9889, 0.9854, 0.9817, 0.9776, 0.9733, 0.9689, 0.9644, 0.9598, 0.9553, 0.9508, 0.9466, 0.9427, 0.9392, 0.9363, 0.9343],
    [1.0000, 0.9994, 0.9981, 0.9959, 0.9931, 0.9897, 0.9857, 0.9813, 0.9764, 0.9712, 0.9657, 0.9599, 0.9540, 0.9480, 0.9420, 0.9362, 0.9306, 0.9254, 0.9208, 0.9169, 0.9143],
    [1.0000, 0.9993, 0.9976, 0.9949, 0.9914, 0.9872, 0.9822, 0.9767, 0.9706, 0.9641, 0.9572, 0.9500, 0.9425, 0.9350, 0.9274, 0.9199, 0.9126, 0.9059, 0.8999, 0.8950, 0.8914],
    [1.0000, 0.9992, 0.9971, 0.9938, 0.9896, 0.9844, 0.9785, 0.9718, 0.9644, 0.9565, 0.9481, 0.9393, 0.9302, 0.9208, 0.9114, 0.9020, 0.8929, 0.8844, 0.8768, 0.8707, 0.8662],
    [1.0000, 0.9990, 0.9965, 0.9927, 0.9876, 0.9815, 0.9745, 0.9665, 0.9578, 0.9484, 0.9384, 0.9279, 0.9170, 0.9057, 0.8942, 0.8828, 0.8716, 0.8610, 0.8515, 0.8440, 0.8392],
    [1.0000, 0.9989, 0.9959, 0.9914, 0.9856, 0.9784, 0.9702, 0.9610, 0.9509, 0.9400, 0.9283, 0.9160, 0.9031, 0.8898, 0.8762, 0.8624, 0.8488, 0.8358, 0.8241, 0.8150, 0.8099],
    [1.0000, 0.9987, 0.9953, 0.9901, 0.9834, 0.9752, 0.9658, 0.9553, 0.9437, 0.9312, 0.9178, 0.9037, 0.8888, 0.8733, 0.8574, 0.8412, 0.8250, 0.8093, 0.7949, 0.7837, 0.7773],
    [1.0000, 0.9985, 0.9946, 0.9887, 0.9811, 0.9719, 0.9613, 0.9494, 0.9364, 0.9222, 0.9071, 0.8910, 0.8741, 0.8564, 0.8381, 0.8193, 0.8003, 0.7815, 0.7641, 0.7503, 0.7442],
    [1.0000, 0.9983, 0.9939, 0.9873, 0.9787, 0.9685, 0.9566, 0.9434, 0.9289, 0.9131, 0.8962, 0.8782, 0.8592, 0.8392, 0.8185, 0.7970, 0.7750, 0.7530, 0.7321, 0.7150, 0.7078],
    [1.0000, 0.9981, 0.9932, 0.9858, 0.9763, 0.9650, 0.9519, 0.9373, 0.9213, 0.9039, 0.8852, 0.8653, 0.8442, 0.8220, 0.7987, 0.7745, 0.7495, 0.7241, 0.6993, 0.6783, 0.6704],
    [1.0000, 0.9979, 0.9924, 0.9843, 0.9739, 0.9614, 0.9471, 0.9311, 0.9136, 0.8946, 0.8742, 0.8524, 0.8293, 0.8048, 0.7791, 0.7522, 0.7241, 0.6952, 0.6662, 0.6404, 0.6319],
    [1.0000, 0.9976, 0.9917, 0.9827, 0.9714, 0.9578, 0.9423, 0.9250, 0.9060, 0.8854, 0.8633, 0.8396, 0.8145, 0.7878, 0.7597, 0.7301, 0.6990, 0.6666, 0.6333, 0.6021, 0.5919],
    [1.0000, 0.9974, 0.9909, 0.9812, 0.9688, 0.9542, 0.9374, 0.9188, 0.8984, 0.8763, 0.8525, 0.8270, 0.7999, 0.7711, 0.7407, 0.7085, 0.6744, 0.6385, 0.6009, 0.5640, 0.5507],
    [1.0000, 0.9971, 0.9900, 0.9796, 0.9663, 0.9505, 0.9326, 0.9127, 0.8909, 0.8672, 0.8418, 0.8146, 0.7856, 0.7548, 0.7222, 0.6875, 0.6506, 0.6113, 0.5695, 0.5266, 0.5088],
])


def share_skewness(phi, share):
    """The skewness of a district's share of a category whose ordinary share is ``share``, where
    districts spread by ``φ``: a beta with ``τ² = φ · π(1 − π)`` (concentration ``1/φ − 1``), in
    absolute value, capped at :data:`SKEW_CAP`.

    >>> share_skewness(np.array([0.0, 0.02, 0.02, 0.0005]), np.array([0.1, 0.5, 0.1, 0.1])).round(3).tolist()
    [0.0, 0.0, 0.739, 0.119]
    """
    phi = np.clip(np.asarray(phi, dtype=float), 0.0, 0.999)
    share = np.clip(np.asarray(share, dtype=float), 1e-9, 1 - 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = 1 / phi - 1
        skew = np.where(phi > 0, 2 * np.abs(1 - 2 * share) * np.sqrt(c + 1)
                        / ((c + 2) * np.sqrt(share * (1 - share))), 0.0)
    return np.minimum(np.nan_to_num(skew), SKEW_CAP)


def skew_factor(phi, share, size):
    """By how much the median of a cell's squared standardised deviation falls below the normal
    one's, ``1 + φ · size`` being its variance's inflation by the spread and ``share`` its
    category's ordinary share: :data:`MEDIAN_RATIO`, read bilinearly.

    >>> skew_factor(np.array([0.0, 0.02, 0.02]), np.array([0.02, 0.5, 0.02]), np.array([2000.0] * 3)).round(2).tolist()
    [1.0, 1.0, 0.56]
    """
    phi = np.maximum(np.asarray(phi, dtype=float), 0.0)
    size = np.asarray(size, dtype=float)
    part = np.clip(phi * size / (1 + phi * size), 0.0, 1.0)
    skew = share_skewness(phi, share)
    step_s, step_w = SKEWS[1] - SKEWS[0], SPREAD_PARTS[1] - SPREAD_PARTS[0]
    i = np.clip((skew / step_s).astype(int), 0, len(SKEWS) - 2)
    j = np.clip((part / step_w).astype(int), 0, len(SPREAD_PARTS) - 2)
    fs, fw = skew / step_s - i, part / step_w - j
    t = MEDIAN_RATIO
    return ((1 - fs) * (1 - fw) * t[i, j] + fs * (1 - fw) * t[i + 1, j]
            + (1 - fs) * fw * t[i, j + 1] + fs * fw * t[i + 1, j + 1])
