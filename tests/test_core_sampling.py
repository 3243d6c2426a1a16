"""--limit's sample: a seeded, class-stratified round-robin, checked against a plain-Python second implementation
and splitmix64's published first output."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.data import datasets as D


def _splitmix64(x: int) -> int:
    """splitmix64's finaliser in plain Python integers (the published constants), masked to 64 bits."""
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def _round_robin_by_keys(labels, limit, seed=0):
    """A second, simpler implementation of the sample, in plain Python: take indices in (round, class turn) order,
    an index's round being its place in its class's hash order and a class's turn its place in the class hash order."""
    m = (1 << 64) - 1
    key = {}
    for c in set(labels):
        members = sorted((i for i, y in enumerate(labels) if y == c), key=lambda i: _splitmix64((i + _splitmix64(2 * seed)) & m))
        for depth, i in enumerate(members):
            key[i] = (depth, _splitmix64(((c & m) + _splitmix64(2 * seed + 1)) & m))
    return sorted(sorted(range(len(labels)), key=key.__getitem__)[:limit])


def test_limit_below_the_class_count_spreads_over_classes():
    labels = [c for c in range(200) for _ in range(50)]  # grouped by class, like Tiny ImageNet valid
    picked = D.stratified(labels, 3)
    classes = [labels[i] for i in picked]
    assert len(set(classes)) == 3 and set(classes) != {0, 1, 2}  # not the first three classes
    assert picked == _round_robin_by_keys(labels, 3)


def test_limit_is_balanced_over_classes_at_any_n():
    labels = [c for c in range(10) for _ in range(7)]
    for n in (1, 9, 10, 25, 69):
        counts = [sum(1 for i in D.stratified(labels, n) if labels[i] == c) for c in range(10)]
        assert sum(counts) == n and max(counts) - min(counts) <= 1
        assert D.stratified(labels, n) == _round_robin_by_keys(labels, n)


def test_limit_with_uneven_classes_fills_from_the_larger_ones():
    labels = [0] + [1] * 10 + [2] * 2
    assert _splitmix64(0) == 0xE220A8397B1DCDAF  # the published splitmix64 value for state 0 (first output of seed 0)
    picked = D.stratified(labels, 6)
    assert sorted(labels[i] for i in picked) == [0, 1, 1, 1, 2, 2]
    assert picked == _round_robin_by_keys(labels, 6)
    assert D.stratified([-1, -1, 0, 0, 3], 3) == _round_robin_by_keys([-1, -1, 0, 0, 3], 3)  # unlabelled (-1) is a class too


def test_limit_is_seeded_nested_and_the_same_in_another_process():
    labels = [c for c in range(20) for _ in range(30)]
    assert set(D.stratified(labels, 40)) < set(D.stratified(labels, 41))  # a larger N only adds images
    assert D.stratified(labels, 40, seed=1) != D.stratified(labels, 40)
    assert D.stratified(labels, 40, seed=1) == _round_robin_by_keys(labels, 40, seed=1)
    assert D.stratified(labels, None) == D.stratified(labels, 600) == list(range(600))
    code = "from bench.data import datasets as D; print(D.stratified([c for c in range(20) for _ in range(30)], 40))"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert other.stdout.strip() == str(D.stratified(labels, 40))


def test_limit_class_order_depends_on_the_seed():
    # 45 of 20 classes x 30: 2 from every class, then a third from the first 5 classes in the seeded class order
    labels = [c for c in range(20) for _ in range(30)]
    for seed in (1, 2, 7):
        assert D.stratified(labels, 45, seed=seed) == _round_robin_by_keys(labels, 45, seed=seed)


def test_limit_is_the_same_for_any_integer_type_of_the_labels():
    import numpy as np

    labels = [c for c in range(7) for _ in range(5)]
    expected = _round_robin_by_keys(labels, 10)
    for dtype in (np.int32, np.int64, np.int16):
        assert D.stratified(np.array(labels, dtype=dtype), 10) == expected
