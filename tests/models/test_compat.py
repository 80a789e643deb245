"""Joining and selecting rows of key/value caches (``models.compat``): what the evaluation's joined
decoding (``evaluation.onepass``) and its grouped line scoring (``scoring.forward``) rely on."""

import torch
from transformers.cache_utils import DynamicCache

from codehotfix.models.compat import cache_rows, concat_caches


def _cache(rows: int, width: int, seed: int) -> DynamicCache:
    g = torch.Generator().manual_seed(seed)
    return DynamicCache(ddp_cache_data=[(torch.randn(rows, 2, width, 4, generator=g),
                                         torch.randn(rows, 2, width, 4, generator=g)) for _ in range(3)])


def test_concat_keeps_each_row_and_pads_on_the_right_with_zeros():
    a, b = _cache(2, 5, 0), _cache(3, 7, 1)
    keys_a = [layer.keys.clone() for layer in a.layers]
    joined = concat_caches([a, b], 9)
    assert len(joined.layers) == 3
    for layer, la, lb in zip(joined.layers, a.layers, b.layers):
        assert layer.keys.shape == (5, 2, 9, 4) and layer.values.shape == (5, 2, 9, 4)
        assert torch.equal(layer.keys[:2, :, :5], la.keys) and torch.equal(layer.values[2:, :, :7], lb.values)
        assert (layer.keys[:2, :, 5:] == 0).all() and (layer.values[2:, :, 7:] == 0).all()
    assert all(torch.equal(k, layer.keys) for k, layer in zip(keys_a, a.layers))  # inputs untouched


def test_rows_are_copied_and_the_source_is_left_as_it_is():
    a = _cache(4, 5, 2)
    sub = cache_rows(a, torch.tensor([3, 1]))
    for layer, src in zip(sub.layers, a.layers):
        assert torch.equal(layer.keys, src.keys[[3, 1]]) and torch.equal(layer.values, src.values[[3, 1]])
    assert a.layers[0].keys.shape[0] == 4


def test_other_cache_kinds_are_refused_so_the_caller_keeps_its_own_path():
    class Other:  # e.g. a quantized or sliding-window cache: not rebuilt, None instead
        layers = []

    assert concat_caches([Other()], 4) is None
    assert cache_rows(Other(), torch.tensor([0])) is None
    assert concat_caches([], 4) is None
    empty = DynamicCache()  # nothing prefilled yet: its layers are not initialised
    assert concat_caches([empty], 4) is None
