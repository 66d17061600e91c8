"""vidsynth.generate.sample_noise: the noise every plugin's ``sample`` draws, from the seeded generator."""

import torch

from vidsynth.generate import sample_noise


def test_a_seed_gives_the_same_noise_and_scale_multiplies_it():
    def draw(seed, **kw):
        return sample_noise((2, 5), torch.Generator().manual_seed(seed), **kw)

    assert draw(0).shape == (2, 5) and torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
    assert torch.equal(draw(0), torch.randn(2, 5, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(draw(0, scale=0.5), 0.5 * draw(0))


def test_mean_and_scale_zero_give_zeros_and_draw_nothing_from_the_generator():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_noise((3,), g, mean=True), torch.zeros(3))
    assert torch.equal(sample_noise((3,), g, scale=0.0), torch.zeros(3))
    assert torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(0)))
