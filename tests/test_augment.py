"""Differentiable augmentation (DiffAugment's translation): what the critic sees, in both networks' steps."""
from __future__ import annotations

import pytest
import torch

from facegen_utils import models
from facegen_utils.training import Trainer, TrainConfig
from facegen_utils.training.augment import augmenter, translate

pytestmark = pytest.mark.usefixtures("one_thread")


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` (C, H, W) moved down by dy and right by dx, zeros where nothing moved in: the reference."""
    out = torch.zeros_like(image)
    h, w = image.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_translation_moves_each_image_by_its_own_bounded_shift():
    x = torch.rand(64, 3, 16, 16) + 0.5  # no zeros of its own: a zero means "moved out"
    y = translate(x, generator=torch.Generator().manual_seed(0))
    shifts = set()
    for image, out in zip(x, y):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(shifted(image, dy, dx), out)]
        assert len(found) == 1, "each output is exactly one shift of at most 1/8 of the side (2 px at 16)"
        shifts.add(found[0])
    assert len(shifts) > 12  # per image, not one shift for the batch
    assert torch.equal(y, translate(x, generator=torch.Generator().manual_seed(0)))  # seeded


def test_translation_passes_the_gradient_to_the_pixels_that_stay_in_view():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    y = translate(x, 0.25, generator=torch.Generator().manual_seed(1))
    y.sum().backward()
    # every pixel that is still in the picture gets gradient 1, the ones pushed out 0
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x.grad.sum(dim=(1, 2, 3)), (y != 0).sum(dim=(1, 2, 3)).float())


def test_translation_keeps_the_channels_last_layout():
    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert translate(x).is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match=r"must be \(N, C, H, W\)"):
        translate(torch.rand(3, 8, 8))


def test_every_batch_the_critic_scores_is_augmented_in_both_steps(tiny_faces):
    torch.manual_seed(0)
    pair = models.build("dcgan", image_size=16, latent_dim=8, base_channels=8)
    trainer = Trainer(pair, tiny_faces, TrainConfig(epochs=1, batch_size=16, sample_every=0, log_every=2,
                                                    augment="translation"))
    seen = []
    trainer.models.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    real = next(iter(trainer.batches.epoch(0)))
    trainer._train_step(real, 0)
    assert len(seen) == 3  # real and fake in D's step (BatchNorm: two passes), the fakes again in G's step
    # the first pass held the real batch, each image shifted: zero rows or columns at the border, the rest moved
    moved_out = [(image == 0).all(dim=0).all(dim=1).any() or (image == 0).all(dim=0).all(dim=0).any()
                 for image in seen[0]]
    assert sum(moved_out) >= 12, "most of the 16 real images should have moved"
    assert sum(not torch.equal(a, b) for a, b in zip(seen[0], real)) >= 12  # a shift of (0, 0) is 1 in 25
    assert not torch.equal(seen[1], seen[2])  # the G step draws new shifts for the same fakes
    plain = augmenter("none", torch.Generator())
    assert plain(real) is real


def test_augment_is_a_named_choice_and_needs_a_critic():
    with pytest.raises(ValueError, match="augment='flip' is invalid; expected 'none' or 'translation'"):
        TrainConfig(augment="flip")
    with pytest.raises(ValueError, match="augment='translation' is invalid; expected 'none' for objective='vae'"):
        TrainConfig(objective="vae", augment="translation")
    with pytest.raises(ValueError, match="augment='x' is invalid; expected one of 'none', 'translation'"):
        augmenter("x", torch.Generator())
