#!/usr/bin/env python3
"""Fits the polynomials of backends/llvm/math_codegen.cpp and prints them as C++ initializers.

Each is a weighted least-squares fit on Chebyshev nodes (close to minimax), in the reduced
variable the emitter evaluates, with the weight chosen so that the fitted error is the error of
the final result; values come from mpmath at 40 digits. Coefficients are rounded to float, as the
emitter uses them. Run with a Python that has numpy and mpmath (Debian: python3-numpy,
python3-mpmath): /usr/bin/python3 backends/llvm/fit_math_polynomials.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def fit(f, lo, hi, degree, weight, center=0.0, nodes=3000):
    k = np.arange(nodes)
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    y = np.array([float(f(mp.mpf(float(v)))) for v in x])
    w = np.array([weight(v) for v in x])
    vander = np.vander(x - center, degree + 1, increasing=True)
    c, *_ = np.linalg.lstsq(vander * w[:, None], y * w, rcond=None)
    c = c.astype(np.float32)
    err = np.max(np.abs((vander @ c.astype(np.float64) - y) * w))
    return c, err


def show(name, what, c, err):
    print(f"// {what}; fitted weighted error {err:.2e}")
    print(f"constexpr float {name}[] = {{" + ", ".join(f"{v:.9e}f" for v in c) + "};")


def limit(f, x, at):
    return f(x) if x != 0 else at


half_ln2 = float(mp.log(2) / 2)
c, e = fit(lambda r: limit(lambda r: (mp.exp(r) - 1 - r) / r**2, r, mp.mpf(1) / 2), -half_ln2,
           half_ln2, 4, lambda r: r * r / np.exp(r))
show("kExp", "exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2", c, e)

lo, hi = float(mp.sqrt(0.5) - 1), float(mp.sqrt(2) - 1)
c, e = fit(lambda f: limit(lambda f: (mp.log(1 + f) - f + f**2 / 2) / f**3, f, mp.mpf(1) / 3), lo,
           hi, 8, lambda f: abs(f)**3 / abs(np.log1p(f)) if f != 0 else 0.0)
show("kLog", "log(1 + f) = f - f^2/2 + f^3 P(f), sqrt(1/2) - 1 <= f <= sqrt(2) - 1", c, e)

c, e = fit(lambda t: limit(lambda t: (mp.tanh(mp.sqrt(t)) - mp.sqrt(t)) / mp.sqrt(t)**3, t,
                           -mp.mpf(1) / 3), 0, 0.625**2, 4,
           lambda t: np.sqrt(t)**3 / np.tanh(np.sqrt(t)) if t > 0 else 0.0)
show("kTanh", "tanh(x) = x + x^3 P(x^2), |x| < 0.625", c, e)

c, e = fit(lambda t: limit(lambda t: mp.erf(mp.sqrt(t)) / mp.sqrt(t) - 1, t, 2 / mp.sqrt(mp.pi) - 1),
           0, 0.875**2, 5, lambda t: 1.0)
show("kErfSmall", "erf(x) = x + x P(x^2), |x| < 0.875", c, e)

c, e = fit(lambda a: mp.erfc(a) * mp.exp(a * a), 0.875, 4.0, 9, lambda a: np.exp(-a * a),
           center=2.4375)
show("kErfLarge", "erf(a) = 1 - exp(-a^2) P(a - 2.4375), 0.875 <= a <= 4", c, e)
