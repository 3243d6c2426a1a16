"""The BiT-HyperRule tables against the values of their source, google-research/big_transfer bit_hyperrule.py.

The expected values are worked out by hand from the source's rule (quoted per test), not computed by
the code under test.
"""

from __future__ import annotations

import pytest

from bench.transfer import hyperrule as H


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((64, 64), (160, 128)),  # the anchor: 64x64 -> (160, 128)
        ((32, 32), (160, 128)),  # cifar10 in known_dataset_sizes
        ((95, 96), (160, 128)),  # 9120 < 96*96 = 9216
        ((96, 96), (512, 480)),  # area == 96*96 is not "< 96*96"
        ((8, 2000), (512, 480)),  # area, not the side, decides
        ((224, 224), (512, 480)),  # oxford_flowers102 / imagenet2012 in known_dataset_sizes
    ],
)
def test_resolution_buckets(size, expected):
    assert H.resolution(size) == expected


def test_resolution_of_a_varied_set_is_the_median_images():
    assert H.resolution_for_images([(500, 500), (8, 8), (8, 8)]) == (160, 128)
    assert H.resolution_for_images([(500, 500), (500, 400), (8, 8)]) == (512, 480)
    # even count: mean of the two middle areas, (64*64 + 128*128) / 2 = 10240 >= 9216
    assert H.resolution_for_images([(8, 8), (64, 64), (128, 128), (500, 500)]) == (512, 480)
    with pytest.raises(ValueError):
        H.resolution_for_images([])


@pytest.mark.parametrize(
    ("n", "supports"),
    [
        (1, [100, 200, 300, 400, 500]),
        (1_020, [100, 200, 300, 400, 500]),  # Flowers-102 train+val: the anchor
        (19_999, [100, 200, 300, 400, 500]),
        (20_000, [500, 3000, 6000, 9000, 10_000]),
        (50_000, [500, 3000, 6000, 9000, 10_000]),  # CIFAR train
        (499_999, [500, 3000, 6000, 9000, 10_000]),
        (500_000, [500, 6000, 12_000, 18_000, 20_000]),
        (1_281_167, [500, 6000, 12_000, 18_000, 20_000]),  # ImageNet train
    ],
)
def test_schedule_buckets(n, supports):
    assert list(H.schedule(n)) == supports


@pytest.mark.parametrize(("n", "alpha"), [(1, 0.0), (1_020, 0.0), (19_999, 0.0), (20_000, 0.1), (1_281_167, 0.1)])
def test_mixup_rule(n, alpha):
    assert H.mixup_alpha(n) == alpha


def test_lr_scales_linearly_from_bits_batch_of_512():
    assert H.scaled_lr(512) == 0.003
    assert H.scaled_lr(128) == pytest.approx(0.00075)
    assert H.scaled_lr(1024, base_lr=0.001) == pytest.approx(0.002)
    assert (H.BASE_LR, H.BASE_BATCH, H.MOMENTUM, H.DECAY_FACTOR) == (0.003, 512, 0.9, 10.0)


# bit_hyperrule.get_lr: warm-up base_lr * step / supports[0]; then base_lr / 10 per support s in
# supports[1:] with s < step; None at step >= supports[-1].
SMALL = [
    (0, 0.0),
    (1, 0.00003),
    (50, 0.0015),
    (99, 0.00297),
    (100, 0.003),
    (200, 0.003),  # 200 < 200 is false: the decay starts one step later
    (201, 0.0003),
    (300, 0.0003),
    (301, 0.00003),
    (400, 0.00003),
    (401, 0.000003),
    (499, 0.000003),
    (500, None),
    (501, None),
]
MEDIUM = [
    (0, 0.0),
    (250, 0.0015),
    (500, 0.003),
    (3000, 0.003),
    (3001, 0.0003),
    (6001, 0.00003),
    (9001, 0.000003),
    (9999, 0.000003),
    (10_000, None),
]
LARGE = [
    (499, 0.003 * 499 / 500),
    (500, 0.003),
    (6000, 0.003),
    (6001, 0.0003),
    (12_001, 0.00003),
    (18_001, 0.000003),
    (19_999, 0.000003),
    (20_000, None),
]


@pytest.mark.parametrize(("n", "table"), [(1_020, SMALL), (50_000, MEDIUM), (1_281_167, LARGE)])
def test_lr_at_matches_the_sources_staircase(n, table):
    for step, expected in table:
        got = H.lr_at(step, H.schedule(n), 0.003)
        if expected is None:
            assert got is None, step
        else:
            assert got == pytest.approx(expected, rel=1e-12, abs=0), step


def test_rule_for_a_flowers_sized_set():
    rule = H.rule_for([(500, 667)] * 1_020, 1_020, batch_size=512)
    assert rule == H.Rule(resolution=(512, 480), supports=(100, 200, 300, 400, 500), mixup_alpha=0.0, peak_lr=0.003)
    assert (rule.warmup_steps, rule.total_steps) == (100, 500)
