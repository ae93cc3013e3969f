#!/usr/bin/python3
"""Goldens for the privacy accountant (tests/test_privacy.c), computed with
Opacus's own RDP code.

Run by hand, not in CI, with Debian's python (apt-get install python3-scipy):
    /usr/bin/python3 tests/golden/rdp_golden.py
Writes, next to this script:
  rdp_opacus.csv         q, sigma, steps, delta -> epsilon (Balle et al.
                         2020 Thm 21, Opacus get_privacy_spent) and the
                         minimising order on Opacus's default orders, and the
                         classic conversion (Mironov 2017) on the same RDP.
  rdp_opacus_orders.csv  q, sigma, alpha -> RDP of one step (_compute_rdp),
                         integer and fractional orders.

The functions between the two "copied" lines below are copied from Opacus,
opacus/accountants/analysis/rdp.py at commit
4d0ebc84613d214fbfd37fbfd1390e3747a625ce (2025-09-16), unchanged except that
get_privacy_spent's warning about extreme orders is left out:
    Copyright (c) Meta Platforms, Inc. and affiliates.
    Licensed under the Apache License, Version 2.0 (the "License"); you may
    not use this file except in compliance with the License. You may obtain a
    copy of the License at http://www.apache.org/licenses/LICENSE-2.0
    Unless required by applicable law or agreed to in writing, software
    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
    License for the specific language governing permissions and limitations
    under the License.
Opacus's file is itself based on TF Privacy's rdp_accountant.py (also
Apache-2.0).
"""
import math
import os
from typing import List, Tuple, Union

import numpy as np
import scipy
from scipy import special

# ---- copied from opacus/accountants/analysis/rdp.py (Apache-2.0) ----
########################
# LOG-SPACE ARITHMETIC #
########################


def _log_add(logx: float, logy: float) -> float:
    r"""Adds two numbers in the log space.

    Args:
        logx: First term in log space.
        logy: Second term in log space.

    Returns:
        Sum of numbers in log space.
    """
    a, b = min(logx, logy), max(logx, logy)
    if a == -np.inf:  # adding 0
        return b
    # Use exp(a) + exp(b) = (exp(a - b) + 1) * exp(b)
    return math.log1p(math.exp(a - b)) + b  # log1p(x) = log(x + 1)


def _log_sub(logx: float, logy: float) -> float:
    r"""Subtracts two numbers in the log space.

    Args:
        logx: First term in log space. Expected to be greater than the second term.
        logy: First term in log space. Expected to be less than the first term.

    Returns:
        Difference of numbers in log space.

    Raises:
        ValueError
            If the result is negative.
    """
    if logx < logy:
        raise ValueError("The result of subtraction must be non-negative.")
    if logy == -np.inf:  # subtracting 0
        return logx
    if logx == logy:
        return -np.inf  # 0 is represented as -np.inf in the log space.

    try:
        # Use exp(x) - exp(y) = (exp(x - y) - 1) * exp(y).
        return math.log(math.expm1(logx - logy)) + logy  # expm1(x) = exp(x) - 1
    except OverflowError:
        return logx


def _compute_log_a_for_int_alpha(q: float, sigma: float, alpha: int) -> float:
    r"""Computes :math:`log(A_\alpha)` for integer ``alpha``.

    Notes:
        Note that
        :math:`A_\alpha` is real valued function of ``alpha`` and ``q``,
        and that 0 < ``q`` < 1.

        Refer to Section 3.3 of https://arxiv.org/pdf/1908.10530.pdf for details.

    Args:
        q: Sampling rate of SGM.
        sigma: The standard deviation of the additive Gaussian noise.
        alpha: The order at which RDP is computed.

    Returns:
        :math:`log(A_\alpha)` as defined in Section 3.3 of
        https://arxiv.org/pdf/1908.10530.pdf.
    """

    # Initialize with 0 in the log space.
    log_a = -np.inf

    for i in range(alpha + 1):
        log_coef_i = (
            math.log(special.binom(alpha, i))
            + i * math.log(q)
            + (alpha - i) * math.log(1 - q)
        )

        s = log_coef_i + (i * i - i) / (2 * (sigma**2))
        log_a = _log_add(log_a, s)

    return float(log_a)


def _compute_log_a_for_frac_alpha(q: float, sigma: float, alpha: float) -> float:
    r"""Computes :math:`log(A_\alpha)` for fractional ``alpha``.

    Notes:
        Note that
        :math:`A_\alpha` is real valued function of ``alpha`` and ``q``,
        and that 0 < ``q`` < 1.

        Refer to Section 3.3 of https://arxiv.org/pdf/1908.10530.pdf for details.

    Args:
        q: Sampling rate of SGM.
        sigma: The standard deviation of the additive Gaussian noise.
        alpha: The order at which RDP is computed.

    Returns:
        :math:`log(A_\alpha)` as defined in Section 3.3 of
        https://arxiv.org/pdf/1908.10530.pdf.
    """
    # The two parts of A_alpha, integrals over (-inf,z0] and [z0, +inf), are
    # initialized to 0 in the log space:
    log_a0, log_a1 = -np.inf, -np.inf
    i = 0

    z0 = sigma**2 * math.log(1 / q - 1) + 0.5

    while True:  # do ... until loop
        coef = special.binom(alpha, i)
        log_coef = math.log(abs(coef))
        j = alpha - i

        log_t0 = log_coef + i * math.log(q) + j * math.log(1 - q)
        log_t1 = log_coef + j * math.log(q) + i * math.log(1 - q)

        log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma))
        log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma))

        log_s0 = log_t0 + (i * i - i) / (2 * (sigma**2)) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2 * (sigma**2)) + log_e1

        if coef > 0:
            log_a0 = _log_add(log_a0, log_s0)
            log_a1 = _log_add(log_a1, log_s1)
        else:
            log_a0 = _log_sub(log_a0, log_s0)
            log_a1 = _log_sub(log_a1, log_s1)

        i += 1
        if max(log_s0, log_s1) < -30:
            break

    return _log_add(log_a0, log_a1)


def _compute_log_a(q: float, sigma: float, alpha: float) -> float:
    r"""Computes :math:`log(A_\alpha)` for any positive finite ``alpha``.

    Notes:
        Note that
        :math:`A_\alpha` is real valued function of ``alpha`` and ``q``,
        and that 0 < ``q`` < 1.

        Refer to Section 3.3 of https://arxiv.org/pdf/1908.10530.pdf
        for details.

    Args:
        q: Sampling rate of SGM.
        sigma: The standard deviation of the additive Gaussian noise.
        alpha: The order at which RDP is computed.

    Returns:
        :math:`log(A_\alpha)` as defined in the paper mentioned above.
    """
    if float(alpha).is_integer():
        return _compute_log_a_for_int_alpha(q, sigma, int(alpha))
    else:
        return _compute_log_a_for_frac_alpha(q, sigma, alpha)


def _log_erfc(x: float) -> float:
    r"""Computes :math:`log(erfc(x))` with high accuracy for large ``x``.

    Helper function used in computation of :math:`log(A_\alpha)`
    for a fractional alpha.

    Args:
        x: The input to the function

    Returns:
        :math:`log(erfc(x))`
    """
    return math.log(2) + special.log_ndtr(-x * 2**0.5)


def _compute_rdp(q: float, sigma: float, alpha: float) -> float:
    r"""Computes RDP of the Sampled Gaussian Mechanism at order ``alpha``.

    Args:
        q: Sampling rate of SGM.
        sigma: The standard deviation of the additive Gaussian noise.
        alpha: The order at which RDP is computed.

    Returns:
        RDP at order ``alpha``; can be np.inf.
    """
    if q == 0:
        return 0

    # no privacy
    if sigma == 0:
        return np.inf

    if q == 1.0:
        return alpha / (2 * sigma**2)

    if np.isinf(alpha):
        return np.inf

    return _compute_log_a(q, sigma, alpha) / (alpha - 1)


def compute_rdp(
    *, q: float, noise_multiplier: float, steps: int, orders: Union[List[float], float]
) -> Union[List[float], float]:
    r"""Computes Renyi Differential Privacy (RDP) guarantees of the
    Sampled Gaussian Mechanism (SGM) iterated ``steps`` times.

    Args:
        q: Sampling rate of SGM.
        noise_multiplier: The ratio of the standard deviation of the
            additive Gaussian noise to the L2-sensitivity of the function
            to which it is added. Note that this is same as the standard
            deviation of the additive Gaussian noise when the L2-sensitivity
            of the function is 1.
        steps: The number of iterations of the mechanism.
        orders: An array (or a scalar) of RDP orders.

    Returns:
        The RDP guarantees at all orders; can be ``np.inf``.
    """
    if isinstance(orders, float):
        rdp = _compute_rdp(q, noise_multiplier, orders)
    else:
        rdp = np.array([_compute_rdp(q, noise_multiplier, order) for order in orders])

    return rdp * steps


def get_privacy_spent(
    *, orders: Union[List[float], float], rdp: Union[List[float], float], delta: float
) -> Tuple[float, float]:
    r"""Computes epsilon given a list of Renyi Differential Privacy (RDP) values at
    multiple RDP orders and target ``delta``.
    The computation of epslion, i.e. conversion from RDP to (eps, delta)-DP,
    is based on the theorem presented in the following work:
    Borja Balle et al. "Hypothesis testing interpretations and Renyi differential privacy."
    International Conference on Artificial Intelligence and Statistics. PMLR, 2020.
    Particullary, Theorem 21 in the arXiv version https://arxiv.org/abs/1905.09982.
    Args:
        orders: An array (or a scalar) of orders (alphas).
        rdp: A list (or a scalar) of RDP guarantees.
        delta: The target delta.
    Returns:
        Pair of epsilon and optimal order alpha.
    Raises:
        ValueError
            If the lengths of ``orders`` and ``rdp`` are not equal.
    """
    orders_vec = np.atleast_1d(orders)
    rdp_vec = np.atleast_1d(rdp)

    if len(orders_vec) != len(rdp_vec):
        raise ValueError(
            f"Input lists must have the same length.\n"
            f"\torders_vec = {orders_vec}\n"
            f"\trdp_vec = {rdp_vec}\n"
        )

    eps = (
        rdp_vec
        - (np.log(delta) + np.log(orders_vec)) / (orders_vec - 1)
        + np.log((orders_vec - 1) / orders_vec)
    )

    # special case when there is no privacy
    if np.isnan(eps).all():
        return np.inf, np.nan

    idx_opt = np.nanargmin(eps)  # Ignore NaNs
    return eps[idx_opt], orders_vec[idx_opt]


# ---- end of the copied code ----

# Opacus RDPAccountant.DEFAULT_ALPHAS (opacus/accountants/rdp.py)
DEFAULT_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))

# Awkward combinations: tiny and full sampling rates, small and large noise,
# 1 to 1e6 steps, best orders fractional, integer and at either end of the grid.
# (q, sigma, steps, delta)
EPS_CASES = [
    (0.04, 1.5, 2250, 1e-5),      # Opacus's own test (REFERENCE 4.4 vector 1)
    (1e-6, 0.3, 1, 1e-5),
    (1e-6, 1.0, 1000000, 1e-5),
    (1e-5, 0.5, 100000, 1e-6),
    (1e-4, 0.8, 1000000, 1e-5),
    (1e-3, 1.0, 10000, 1e-5),
    (0.01, 0.3, 1, 1e-5),
    (0.01, 0.5, 100, 1e-5),
    (0.01, 1.1, 10000, 1e-5),     # REFERENCE 4.4 vector 8
    (0.01, 4.0, 10000, 1e-5),     # REFERENCE 4.4 vector 7
    (0.01, 50.0, 1000000, 1e-9),
    (0.02, 0.7, 5000, 1e-5),
    (0.05, 2.0, 100, 1e-5),
    (0.1, 0.6, 10, 1e-3),
    (0.1, 1.0, 1000, 1e-5),
    (0.1, 3.0, 100000, 1e-6),
    (0.25, 1.5, 200, 1e-5),
    (0.3, 0.3, 1, 1e-2),
    (0.5, 1.0, 1, 1e-5),
    (0.5, 5.0, 1000, 1e-5),
    (0.5, 50.0, 1000000, 1e-5),
    (0.9, 2.0, 50, 1e-5),
    (0.99, 10.0, 10, 1e-5),
    (1.0, 0.3, 1, 1e-5),
    (1.0, 1.0, 1, 1e-5),
    (1.0, 4.530877117, 1, 1e-6),
    (1.0, 10.0, 100, 1e-5),
    (1.0, 50.0, 1000000, 1e-5),
    (256 / 60000, 1.1, 14063, 1e-5),
    (150 / 60000, 1.3, 6000, 1e-5),
    (0.004, 0.9, 1000000, 1e-8),
    (0.2, 20.0, 3, 0.5),
]

# (q, sigma, alpha) for single-step RDP values
ORDER_CASES = [
    (0.1, 2.0, 5), (0.01, 2.5, 1.5), (0.01, 2.5, 2.5), (0.01, 2.5, 50), (0.01, 2.5, 100),
    (1e-7, 0.1, 1.01), (1e-6, 0.1, 256), (1e-5, 0.1, 256.1), (1e-6, 1.0, 27), (1e-4, 1.0, 1.5),
    (1e-3, 1.0, 2), (0.01, 10.0, 20), (0.1, 100.0, 20.5), (0.99, 0.1, 256), (0.999, 100.0, 256.1),
    (0.5, 1.0, 1.1), (0.5, 1.0, 10.9), (0.3, 0.3, 1.7), (0.04, 1.5, 4.3), (0.9, 2.0, 63),
    (1e-6, 50.0, 3.3), (0.2, 0.5, 7.7),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    orders = np.array(DEFAULT_ALPHAS, dtype=float)
    with open(os.path.join(here, "rdp_opacus.csv"), "w") as f:
        f.write("# made by tests/golden/rdp_golden.py (Opacus rdp.py at 4d0ebc8, scipy %s, numpy %s)\n"
                % (scipy.__version__, np.__version__))
        f.write("q,sigma,steps,delta,epsilon,best_alpha,epsilon_classic,best_alpha_classic\n")
        for q, sigma, steps, delta in EPS_CASES:
            rdp = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=DEFAULT_ALPHAS)
            eps, alpha = get_privacy_spent(orders=DEFAULT_ALPHAS, rdp=rdp, delta=delta)
            # classic conversion (Mironov 2017; TF Privacy before 2020) on the same RDP
            ceps = rdp - math.log(delta) / (orders - 1)
            ci = int(np.nanargmin(ceps))
            f.write("%.17g,%.17g,%d,%.17g,%.17g,%.17g,%.17g,%.17g\n"
                    % (q, sigma, steps, delta, eps, alpha, ceps[ci], orders[ci]))
    with open(os.path.join(here, "rdp_opacus_orders.csv"), "w") as f:
        f.write("# made by tests/golden/rdp_golden.py (Opacus rdp.py _compute_rdp, one step)\n")
        f.write("q,sigma,alpha,rdp\n")
        for q, sigma, alpha in ORDER_CASES:
            f.write("%.17g,%.17g,%.17g,%.17g\n" % (q, sigma, alpha, _compute_rdp(q, sigma, alpha)))


if __name__ == "__main__":
    main()
