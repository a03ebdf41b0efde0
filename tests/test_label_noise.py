"""The three-cornered hat separates three estimates' own errors (known answers)."""

import numpy as np
import pytest

from bhbfinder.training.label_noise import three_cornered_hat


def _three(n, sigmas, seed=0, shared=0.0):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(7000.0, 10000.0, n)
    common = rng.normal(0.0, shared, n) if shared else 0.0
    a = truth + rng.normal(0.0, sigmas[0], n)
    b = truth + rng.normal(0.0, sigmas[1], n) + common
    c = truth + rng.normal(0.0, sigmas[2], n) + common
    return {"published": a, "spectrum": b, "colour": c}


@pytest.mark.parametrize("robust", [True, False])
def test_recovers_known_error_scatters(robust):
    out = three_cornered_hat(_three(20000, (150.0, 200.0, 300.0)), robust=robust)
    assert out["n"] == 20000
    for name, sigma in (("published", 150.0), ("spectrum", 200.0), ("colour", 300.0)):
        assert out[name]["sigma"] == pytest.approx(sigma, rel=0.05)


def test_robust_scatter_ignores_a_few_gross_outliers():
    est = _three(5000, (150.0, 200.0, 300.0), seed=1)
    est["spectrum"][:50] += 5000.0  # 1 % catastrophic fits
    robust = three_cornered_hat(est)
    plain = three_cornered_hat(est, robust=False)
    assert robust["spectrum"]["sigma"] == pytest.approx(200.0, rel=0.1)
    assert plain["spectrum"]["sigma"] > 400.0


def test_shared_error_is_charged_to_the_third_estimate():
    # the spectrum and the colour share an error of 200: their difference hides it, and the
    # published labels are charged with it (an upper bound, as documented)
    out = three_cornered_hat(_three(20000, (150.0, 100.0, 100.0), seed=2, shared=200.0),
                             robust=False)
    assert out["published"]["sigma"] == pytest.approx(np.hypot(150.0, 200.0), rel=0.05)
    assert out["spectrum"]["sigma"] == pytest.approx(100.0, rel=0.1)


def test_bootstrap_interval_covers_the_truth_and_narrows_with_more_objects():
    small = three_cornered_hat(_three(80, (150.0, 200.0, 300.0), seed=3), n_boot=500,
                               levels=(0.68, 0.95))
    large = three_cornered_hat(_three(2000, (150.0, 200.0, 300.0), seed=3), n_boot=500,
                               levels=(0.68, 0.95))
    lo, hi = small["published"][0.95]
    assert lo < 150.0 < hi
    assert lo <= small["published"][0.68][0] <= small["published"][0.68][1] <= hi
    def width(result):
        return result["published"][0.68][1] - result["published"][0.68][0]

    assert width(large) < width(small) / 2


def test_non_finite_objects_are_left_out():
    est = _three(100, (150.0, 200.0, 300.0), seed=4)
    est["colour"][:10] = np.nan
    assert three_cornered_hat(est)["n"] == 90


def test_a_negative_variance_gives_no_sigma():
    # 'colour' has much less error than its differences suggest: impossible for independent
    # errors, so its σ² comes out negative and σ is not a number
    rng = np.random.default_rng(5)
    truth = rng.normal(0.0, 1.0, 1000)
    e = rng.normal(0.0, 1.0, 1000)
    out = three_cornered_hat({"a": truth + e, "b": truth - e, "c": truth}, robust=False)
    assert out["c"]["variance"] < 0
    assert np.isnan(out["c"]["sigma"])


@pytest.mark.parametrize("estimates, match", [
    ({"a": [1.0] * 10, "b": [1.0] * 10}, "exactly three"),
    ({"a": [1.0] * 10, "b": [1.0] * 10, "c": [1.0] * 9}, "different lengths"),
    ({"a": [1.0] * 4, "b": [1.0] * 4, "c": [1.0] * 4}, "at least 5"),
])
def test_bad_input_is_named(estimates, match):
    with pytest.raises(ValueError, match=match):
        three_cornered_hat(estimates)
