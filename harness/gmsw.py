"""Gill, Murray, Saunders & Wright (1983), algorithm FD, as the authors ship it in NPSOL (CHCORE).

Reference: P. E. Gill, W. Murray, M. A. Saunders and M. H. Wright,
"Computing forward-difference intervals for numerical optimization",
SIAM J. Sci. Stat. Comput. 4(2), 1983, 310-321 (algorithm FD). The control
logic below is a transcription of the authors' own implementation, subroutine
``CHCORE`` of NPSOL (file ``chsubs.f``, "Fortran 77 version written
25-May-1985, this version dated 11-February-1986"; ``CHCORE implements
algorithm FD``), and of the loop of its driver ``CHFD`` that sets the
initial interval, the noise level and the iteration limit.
numericalderivative's ``GillMurraySaundersWright`` (M. Baudin)
was read but not followed: in its author's words it is "a simplified version"
(a bisection for the second difference's step in a user-given ``[kmin, kmax]``);
it runs as the baseline ``nder_gmsw``. Every lane
(point x coordinate) runs the same state machine; all lanes iterate together
with masks, so f is called once per trial on every lane still searching.

Quantities at a trial interval h (``FX = f(x)``)
------------------------------------------------
Central trial (the paper's eq. 8, used whenever ``f(x - h)`` and ``f(x + h)``
are both finite)::

    FDEST = (f(x+h) - FX) / h,   FDEST2 = (FX - f(x-h)) / h          (forward, backward)
    CDEST = (f(x+h) - f(x-h)) / 2h,   SDEST = (f(x+h) - 2 FX + f(x-h)) / h**2

One-sided trial (CHCORE's own formulas, which NPSOL uses so that trials stay
on the feasible side of a bound; h is negative for a backward search)::

    FDEST = (f(x+h) - FX) / h,   FDEST2 = (f(x+2h) - FX) / 2h
    CDEST = (4 f(x+h) - 3 FX - f(x+2h)) / 2h,   SDEST = (FX - 2 f(x+h) + f(x+2h)) / h**2

Bounds on the relative condition errors of the first- and second-derivative
estimates: ``FDCERR = EPSA / (|h|/2 * min(|FDEST|, |FDEST2|))`` and
``SDCERR = EPSA / (|SDEST| h**2 / 4)`` (a zero denominator gives inf).

Algorithm (CHCORE; BNDLO = 1e-3, BNDUP = 0.1, ITMAX = 3 trials)
-----------------------------------------------------------------
* Start (CHFD): ``EPSA = eps_R (1 + |FX|)``, ``HOPT = 2 (1 + |x|) sqrt(eps_R)``,
  first trial ``h = 10 HOPT``. ``eps_R`` is CHFD's function precision; we
  use the unit round-off ``eps`` of the working type (NPSOL's default is
  ``eps**0.9``; our test functions are correctly rounded).
* First trial: accept if ``BNDLO <= SDCERR <= BNDUP``. If SDCERR is too
  small (truncation error may be too big), divide h by ``RHO = 10 eps_R**(-1/6) / 4``
  (about 1015 in float64) from now on; if too large, multiply it by
  ``RHO = eps_R**(-1/6) / 4`` (about 101).
* Increasing: accept the first h with ``SDCERR <= BNDUP``.
* Decreasing: if SDCERR jumped above BNDUP, accept the previous h (and its
  SDEST); accept h once ``SDCERR >= BNDLO``.
* Throughout, the last trial with ``FDCERR <= BNDUP`` is saved (``HSAVE``).
* Accepted: ``HOPT = 2 sqrt(EPSA / |SDEST|)``, the minimiser of the forward
  difference's bound ``h |f''| / 2 + 2 EPSA / h``, with the error bound
  ``ERRBND = max(HOPT |SDEST|, |FDEST - CDEST|)``.
* After ITMAX trials without acceptance: FDCERR never small (f looks
  constant, INFORM 1): ``HOPT`` keeps its initial value; otherwise
  ``HOPT = |HSAVE|`` (INFORM 2: SDCERR never small, f looks linear or odd;
  INFORM 3: SDCERR stayed small while h shrank), with CHCORE's bounds
  ``2 EPSA / HOPT`` and ``HOPT |SDSAVE| / 2 + 2 EPSA / HOPT``.

Our additions (the domain; CHFD knows bounds, we only see values)
-----------------------------------------------------------------
* One-sided samples when a central trial leaves the domain: if exactly one
  of ``f(x - h)``, ``f(x + h)`` is not finite, the lane switches for good to
  CHCORE's one-sided trials on the finite side (one extra evaluation,
  ``f(x +- 2h)``, at that trial). This is what keeps ``sqrt`` at 1e-10 and
  ``log`` at 1e-8 from falling back to a blind step.
* A trial with no usable samples ends the search: at the first trial the
  lane falls back to ``sqrt_eps`` (as a non-finite ``f(x)`` does); later,
  CHCORE's end-of-iterations rules apply to what was seen so far.
* Steps are applied exactly, ``(x + h) - x`` in the working type (NPSOL
  forms ``x + h`` and ``x + h + h``); ``x + 2h`` of a one-sided trial is
  rounded once, like NPSOL's.
* Not produced: NPSOL's central-difference interval ``HPHI`` and its
  per-variable combination of several functions (CHFD's ``HFD``): the
  selector returns ``HOPT`` for one function.

Cost: ``f(x)`` plus 2 evaluations per trial (3 at the trial that switches to
one-sided samples): 3 to 8 evaluations.
"""

from __future__ import annotations

import numpy as np

from .evaluate import applied_step
from .number_types import finfo
from .selectors import _eps_steps, _Lanes, _Selection

__all__ = ["GMSW_BOUND_HIGH", "GMSW_BOUND_LOW", "GMSW_MAX_TRIALS", "gmsw"]

GMSW_BOUND_LOW = 1e-3
"""BNDLO: lower end of the acceptable range of SDCERR."""
GMSW_BOUND_HIGH = 1e-1
"""BNDUP: upper end of the acceptable range of SDCERR; also the bound on FDCERR."""
GMSW_MAX_TRIALS = 3
"""ITMAX: trial intervals before CHCORE gives up (set by NPSOL's CHFD)."""
GMSW_FIRST_FACTOR = 10.0
"""The first trial interval is this multiple of the well-scaled interval 2 (1 + |x|) sqrt(eps_R) (CHFD)."""


def _condition(epsa: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``EPSA / scale``, inf where the scale is 0 (CHCORE's DDIV guards the same overflow)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, epsa / scale, np.inf)


def gmsw(lanes: _Lanes) -> _Selection:
    """Algorithm FD on every lane of ``lanes``; see the module docstring.

    Returns
    -------
    _Selection
        ``h``: HOPT per lane (working type); ``evals``: points handed to f;
        ``error_estimate``: CHCORE's ERRBND (NaN for INFORM 1, whose bound is 0,
        and for lanes that fell back to ``sqrt_eps``).
    """
    dtype = lanes.dtype
    t = dtype.type
    x = lanes.x
    n = x.size
    eps_r = finfo(dtype).eps
    lo, hi = t(GMSW_BOUND_LOW), t(GMSW_BOUND_HIGH)

    fx = np.asarray(lanes(np.arange(n), np.zeros((1, n), dtype=dtype))[0]).astype(dtype, copy=False)
    epsa = (eps_r * (t(1) + np.abs(fx))).astype(dtype)
    hbar = (t(2) * (t(1) + np.abs(x)) * np.sqrt(eps_r)).astype(dtype)  # CHFD's initial HOPT
    rho_up = (np.power(eps_r, t(-1) / t(6)) / t(4)).astype(dtype)
    h = (t(GMSW_FIRST_FACTOR) * hbar).astype(dtype)

    side = np.zeros(n, dtype=np.int8)  # 0 central trials, +1 / -1 one-sided (sign of h)
    first = np.ones(n, dtype=bool)
    te2big = np.zeros(n, dtype=bool)
    ce2big = np.zeros(n, dtype=bool)
    ce1big = np.zeros(n, dtype=bool)
    rho = np.full(n, rho_up, dtype=dtype)
    sdest = np.zeros(n, dtype=dtype)
    cdest = np.zeros(n, dtype=dtype)
    hsave = np.full(n, np.nan, dtype=dtype)
    sdsave = np.full(n, np.nan, dtype=dtype)
    trials = np.zeros(n, dtype=np.int64)

    hopt = hbar.copy()
    errbnd = np.full(n, np.nan, dtype=dtype)
    searching = np.isfinite(fx)
    fallback = ~searching

    while True:
        idx = np.flatnonzero(searching)
        if idx.size == 0:
            break
        xi, fxi = x[idx], fx[idx]
        hu = applied_step(xi, h[idx])  # signed: one-sided backward lanes search with h < 0
        f1, f2 = _trial_samples(lanes, idx, hu, side)  # switches side (and hu's sign) where needed
        mode = side[idx]

        usable = np.isfinite(f1) & np.isfinite(f2) & (hu != 0)
        lost = idx[~usable]
        never = lost[first[lost]]
        fallback[never] = True
        searching[lost] = False
        _give_up(lost[~first[lost]], hopt, errbnd, hbar, hsave, sdsave, epsa, ce1big, ce2big)

        idx, hu, f1, f2, fxi, mode = idx[usable], hu[usable], f1[usable], f2[usable], fxi[usable], mode[usable]
        if idx.size == 0:
            continue
        trials[idx] += 1
        central = mode == 0
        fdest = (f1 - fxi) / hu
        fdest2 = np.where(central, (fxi - f2) / hu, (f2 - fxi) / (2 * hu))
        old_cd, old_sd = cdest[idx], sdest[idx]
        cd = np.where(central, (f1 - f2) / (2 * hu), (4 * f1 - 3 * fxi - f2) / (2 * hu))
        sd = np.where(central, (f1 - 2 * fxi + f2), (fxi - 2 * f1 + f2)) / (hu * hu)
        cdest[idx], sdest[idx] = cd, sd
        ea = epsa[idx]
        fdcerr = _condition(ea, t(0.5) * np.abs(hu) * np.minimum(np.abs(fdest), np.abs(fdest2)))
        sdcerr = _condition(ea, t(0.25) * np.abs(sd) * hu * hu)

        is_first = first[idx]
        was_up, was_down = ce2big[idx] & ~is_first, te2big[idx] & ~is_first
        done = np.zeros(idx.size, dtype=bool)
        save = np.zeros(idx.size, dtype=bool)

        # First trial: classify.
        f_idx = idx[is_first]
        done[is_first] = (sdcerr[is_first] >= lo) & (sdcerr[is_first] <= hi)
        te2big[f_idx] = sdcerr[is_first] < lo
        ce2big[f_idx] = sdcerr[is_first] > hi
        ce1big[f_idx] = fdcerr[is_first] > hi
        save |= is_first & (fdcerr <= hi)
        down0 = is_first & (sdcerr < lo)
        rho[idx[down0]] = t(10) * rho_up
        # Increasing (SDCERR was too large).
        save |= was_up & ce1big[idx] & (fdcerr <= hi)
        done |= was_up & (sdcerr <= hi)
        # Decreasing (SDCERR was too small).
        jumped = was_down & (sdcerr > hi)
        done |= jumped  # accept the previous interval: its SDEST (and CDEST) count
        sdest[idx[jumped]], cdest[idx[jumped]] = old_sd[jumped], old_cd[jumped]
        keep_down = was_down & ~jumped
        save |= keep_down & (fdcerr <= hi)
        done |= keep_down & (sdcerr >= lo)

        s_idx = idx[save]
        ce1big[s_idx] = False
        hsave[s_idx], sdsave[s_idx] = hu[save], sd[save]
        first[idx] = False

        # Next trial interval.
        up = ~done & ce2big[idx]
        down = ~done & te2big[idx]
        h[idx[up]] = hu[up] * rho[idx[up]]
        h[idx[down]] = hu[down] / rho[idx[down]]

        # Accepted: the optimal forward-difference interval from the accepted SDEST.
        a_idx = idx[done]
        s_acc = np.abs(sdest[a_idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            hopt[a_idx] = t(2) * np.sqrt(epsa[a_idx]) / np.sqrt(s_acc)
        errbnd[a_idx] = np.maximum(hopt[a_idx] * s_acc, np.abs(fdest[done] - cdest[a_idx]))
        searching[a_idx] = False

        out = idx[~done & (trials[idx] >= GMSW_MAX_TRIALS)]
        searching[out] = False
        _give_up(out, hopt, errbnd, hbar, hsave, sdsave, epsa, ce1big, ce2big)

    bad = ~np.isfinite(hopt) | (hopt <= 0)
    fallback |= bad
    err = errbnd.astype(np.float64)
    if fallback.any():
        hopt[fallback] = _eps_steps(x[fallback], 2)
        err[fallback] = np.nan
    return _Selection(hopt, lanes.evals.copy(), err)


def _trial_samples(lanes: _Lanes, idx: np.ndarray, hu: np.ndarray, side: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The two samples of one trial per lane: ``f(x+h), f(x-h)`` (central) or ``f(x+h), f(x+2h)`` (one-sided).

    A central trial with exactly one non-finite sample switches its lane to
    one-sided trials on the finite side for good: ``side`` becomes +1 or -1,
    ``hu`` (in place) negative for a backward lane, and ``f(x + 2h)`` is
    evaluated for it now. Samples of lanes with no finite side stay NaN.
    """
    f1 = np.full(idx.size, np.nan, dtype=lanes.dtype)
    f2 = np.full(idx.size, np.nan, dtype=lanes.dtype)
    one_sided = side[idx] != 0
    if one_sided.any():
        vals = lanes(idx[one_sided], np.stack([hu[one_sided], 2 * hu[one_sided]]))
        f1[one_sided], f2[one_sided] = vals[0], vals[1]
    central = np.flatnonzero(~one_sided)
    if central.size:
        vals = lanes(idx[central], np.stack([hu[central], -hu[central]]))
        fp, fm = vals[0], vals[1]
        ok_p, ok_m = np.isfinite(fp), np.isfinite(fm)
        both = ok_p & ok_m
        f1[central[both]], f2[central[both]] = fp[both], fm[both]
        fwd, bwd = central[ok_p & ~ok_m], central[ok_m & ~ok_p]
        f1[fwd], f1[bwd] = fp[ok_p & ~ok_m], fm[ok_m & ~ok_p]
        hu[bwd] = -hu[bwd]
        side[idx[fwd]], side[idx[bwd]] = 1, -1
        switch = np.concatenate([fwd, bwd])
        if switch.size:
            f2[switch] = lanes(idx[switch], (2 * hu[switch])[None, :])[0]
    return f1, f2


def _give_up(lanes_out: np.ndarray, hopt: np.ndarray, errbnd: np.ndarray, hbar: np.ndarray, hsave: np.ndarray,
             sdsave: np.ndarray, epsa: np.ndarray, ce1big: np.ndarray, ce2big: np.ndarray) -> None:
    """CHCORE's end of iterations without an acceptable SDCERR (INFORM 1, 2 or 3), in place."""
    if lanes_out.size == 0:
        return
    const = ce1big[lanes_out]
    c = lanes_out[const]  # INFORM 1: f looks constant; HOPT keeps its initial value, bound 0 (not reported)
    hopt[c] = hbar[c]
    errbnd[c] = np.nan
    s = lanes_out[~const]
    hopt[s] = np.abs(hsave[s])
    linear = ce2big[s]
    with np.errstate(divide="ignore", invalid="ignore"):
        two = 2 * epsa[s] / hopt[s]
        errbnd[s] = np.where(linear, two, hopt[s] * np.abs(sdsave[s]) / 2 + two)
