"""Started by tests/test_ddp.py through ``torchrun --nproc_per_node 2``: trains four tiny models on CPU with gloo.

Each rank builds its networks from a different seed, so identical final weights prove that DDP broadcast rank 0's
weights and averaged the gradients. Each rank saves its final state to OUT/rank<R>_<objective>.pt.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from facegen_utils import conditioning, models
from facegen_utils.datasets.procedural import SyntheticFaces
from facegen_utils.training import Trainer, TrainConfig, distributed

RUNS = {  # objective -> (model, options, extra settings)
    "gan": ("dcgan", {"base_channels": 8, "latent_dim": 8}, {"ema": 0.9}),  # BatchNorm buffers, EMA copy of G
    "wgan-gp": ("mlp-wgan-gp", {"hidden_dims": (16, 32, 64), "latent_dim": 8},
                {"n_critic": 2, "critic_schedule": "every-nth"}),
    # a denoiser called with (x_t, t) through DDP; its steps and noises come from the per-rank seeded generator
    "diffusion": ("ddpm-unet", {"base_channels": 8, "channel_mults": (1, 2), "sample_steps": 2}, {"ema": 0.9}),
    # labelled batches: each rank takes its strided share of the images and of their label rows
    "cgan": ("cdcgan", {"base_channels": 8}, {"ema": 0.9}),
}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank = distributed.from_environment().rank
    faces = SyntheticFaces(n=40, image_size=16, seed=0)
    labelled = conditioning.labelled(faces, conditioning.schema("synthetic-faces", conditioning.DEFAULT_FACE_CONDITIONS))
    for objective, (name, options, extra) in RUNS.items():
        torch.manual_seed(100 + rank)
        model_set = models.build(name, image_size=16, **options)
        config = TrainConfig(objective=objective, epochs=2, batch_size=4, device="cpu", sample_every=1,
                             out_dir=str(out / objective), **extra)
        trainer = Trainer(model_set, labelled if objective == "cgan" else faces, config)
        trainer.fit()
        torch.save({"models": trainer.state_dict()["models"],
                    "step": trainer.step, "history_rows": len(trainer.history),
                    "optimizer_steps": {role: [int(s["step"]) for s in opt.state.values()]
                                        for role, opt in trainer.optimizers.items()}},
                   out / f"rank{rank}_{objective}.pt")
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
