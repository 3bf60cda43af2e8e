"""The method contract every benchmarked system implements (docs/adding-a-method.md).

A method owns its network, its first interaction and its training; the shared trainer
(:mod:`gdgp.training.trainer`) and the shared interaction loop (:mod:`gdgp.evaluation.loop`)
call only the hooks of :class:`Method`, so adding a system is one module plus one registry
line. Two hooks are abstract, because they are the ones every method really has:
:meth:`Method.predict_batch` and the training, either :meth:`Method.train_step` (the shared
loop) or, on an :class:`ExternallyTrainedMethod`, :meth:`ExternallyTrainedMethod.train_external`
(on a :class:`PretrainedMethod`, :meth:`PretrainedMethod.load_pretrained` in its place).
:class:`EncodedNetworkMethod` serves the common case "encode the clicks, then a network".
Images are float32 (H, W) in [0, 1]; masks (H, W); clicks are
:class:`gdgp.clicks.robot.Click` lists; probabilities float32 (H, W).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.networks.layers import Norm
from monai.networks.nets import UNet
from torch import nn

from gdgp.clicks.robot import Click, Robot
from gdgp.methods.settings import MethodSettings, build_settings

#: A batch of (H, W) images or masks: a (B, H, W) array or a sequence of (H, W) arrays.
Images = np.ndarray | Sequence[np.ndarray]


def stack_batch(images: Images) -> np.ndarray:
    """A batch as one (B, H, W) array, whichever form it came in (``np.stack`` of its items: a copy)."""
    return np.stack(list(images))


def monai_unet(in_channels: int, channels: Sequence[int], dropout: float, res_units: int = 0) -> nn.Module:
    """A 2D MONAI U-Net with instance norm and one logit channel (no final sigmoid).

    ``res_units=0`` (plain conv blocks) is the default: on the demo's small targets the
    residual variant (2 units) stayed at the all-background solution for 300 Adam steps
    where the plain one reached training Dice 0.99 in the same steps, at a third of the cost.
    """
    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=1,
        channels=tuple(channels),
        strides=(2,) * (len(channels) - 1),
        num_res_units=res_units,
        norm=Norm.INSTANCE,
        dropout=dropout,
    )


def route_first_or_refine(x: torch.Tensor, clicked: torch.Tensor, first: nn.Module, refine: nn.Module) -> torch.Tensor:
    """Two-network methods (DeepIGeoS, InterCNN): items without a click get the first
    (automatic) network on the image channel, the others the refinement network on every
    channel; (B, C, H, W) -> (B, 1, H, W) logits, one batch split by ``clicked`` (B,) bool."""
    out = x.new_empty((x.shape[0], 1, *x.shape[2:]))
    if (~clicked).any():
        out[~clicked] = first(x[~clicked, :1])
    if clicked.any():
        out[clicked] = refine(x[clicked])
    return out


class Method(ABC):
    """Base class of a benchmarked segmentation system.

    Subclasses set ``name``, ``interactive`` and ``Settings`` (a frozen dataclass of the
    hyperparameters, their defaults and checks: :mod:`gdgp.methods.settings`) and implement
    :meth:`predict_batch` and :meth:`train_step` (or subclass :class:`ExternallyTrainedMethod` or
    :class:`PretrainedMethod`, whose own hook replaces :meth:`train_step`).
    Constructor keyword arguments override the defaults; an unknown key or a bad value raises
    :class:`~gdgp.errors.ConfigError` naming the method.
    """

    name: ClassVar[str]
    interactive: ClassVar[bool] = True
    #: The method's hyperparameters (``methods.<name>`` in the config): defaults, help, checks.
    Settings: ClassVar[type[MethodSettings]] = MethodSettings
    #: True for an :class:`ExternallyTrainedMethod` (set there, not by hand): the shared trainer
    #: then calls its ``train_external`` once instead of looping over :meth:`train_step`.
    external_training: ClassVar[bool] = False
    #: The first interaction as ``gdgp methods`` lists it ("1 click", "box (2 clicks)", "none");
    #: empty: "none" for an automatic method, else "1 click" (the default :meth:`first_interaction`).
    first_interaction_cost: ClassVar[str] = ""
    #: Packages (import names) the method needs beyond gdgp's own dependencies, and how to install
    #: them: ``gdgp methods`` lists the method either way and shows the hint while one is missing.
    required_modules: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    #: True for a pretrained method (:class:`PretrainedMethod` sets it): no training; its train job
    #: records the weights file (``methods.<name>.checkpoint``), its sha256 and licence instead
    #: (:meth:`load_pretrained`). A class that inherits a ``train_step`` may set it by hand.
    pretrained: ClassVar[bool] = False
    #: Where a user obtains the weights (URL or model card; never downloaded at run time).
    weights_source: ClassVar[str] = ""
    #: The weights' licence (e.g. "Apache-2.0").
    weights_licence: ClassVar[str] = ""
    #: Public datasets in the model's (pre)training data, as source names ("MSD", "NIH-Pancreas-CT";
    #: docs/pretrained.md): a dataset whose ``datasets.<name>.source`` is one of them is marked in Table 4.
    trained_on: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Class-creation checks of the training mode: the flags the trainer reads agree with the hooks.

        (The abstract hooks themselves are checked by :class:`ABC` when the class is instantiated.)
        """
        super().__init_subclass__(**kwargs)
        where = f"method class {cls.__module__}.{cls.__qualname__}"
        if cls.external_training != hasattr(cls, "train_external"):
            raise TypeError(
                f"{where}: a method trained by its own framework subclasses ExternallyTrainedMethod "
                "(which sets external_training and declares train_external); do not set either by hand"
            )
        if cls.pretrained and cls.external_training:
            raise TypeError(f"{where}: a method is pretrained or trained by its own framework, not both")
        if cls.pretrained and getattr(cls.train_step, "__isabstractmethod__", False):
            raise TypeError(f"{where}: pretrained = True without a train_step: subclass PretrainedMethod instead")

    def __init__(self, **hparams: Any) -> None:
        self.settings: MethodSettings = build_settings(self.name, self.Settings, hparams)
        #: The settings as plain data (what checkpoints store and the method's code reads).
        self.hparams: dict[str, Any] = dataclasses.asdict(self.settings)
        #: Checkpoints store its ``state_dict()``; the shared trainer optimises its parameters.
        self.network: nn.Module = self.build_network()
        self.device = torch.device("cpu")
        #: 0.5 Dice + 0.5 CE on logits, the segmentation loss most methods train with.
        self.loss_fn = DiceCELoss(sigmoid=True, batch=True, lambda_dice=0.5, lambda_ce=0.5)

    # --- construction -------------------------------------------------------------------
    def build_network(self) -> nn.Module:
        """The method's network (built, or loaded from pretrained weights); checkpoints store its weights.

        Default: an empty module, for a method without weights of its own or one whose network
        exists only after training (nnU-Net builds it from its plans, :meth:`load_extra_state`).
        """
        return nn.Module()

    def configure_optimizers(
        self, lr: float, lr_step: int, lr_gamma: float
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam with a step learning-rate schedule (stepped once per epoch)."""
        opt = torch.optim.Adam(self.network.parameters(), lr=lr)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=lr_gamma)

    def load_pretrained(self, checkpoint: Path) -> None:
        """Load a pretrained method's weights file into :attr:`network` (pretrained methods only)."""
        raise NotImplementedError(f"method {self.name!r} is not pretrained: it has no weights file to load")

    def extra_state(self) -> dict[str, str]:
        """Plain-data state the network is rebuilt from before its weights load (nnU-Net's plans)."""
        return {}

    def load_extra_state(self, state: dict[str, str]) -> None:  # noqa: B027 - optional hook, nothing by default
        """Rebuild the network from :meth:`extra_state`'s output (called before the weights load)."""

    def learned_parameters(self) -> dict[str, float]:
        """Named scalar parameters worth logging per epoch (GDGP: sigma and the kernel's); none by default."""
        return {}

    def to(self, device: torch.device | str) -> Self:
        """Move the network to ``device``."""
        self.device = torch.device(device)
        self.network.to(self.device)
        return self

    # --- interaction --------------------------------------------------------------------
    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """Clicks of the method's own first interaction, recorded in ``robot``.

        Default: one robot click on an empty prediction, i.e. the innermost target pixel.
        Automatic methods return no click.
        """
        if not self.interactive:
            return []
        click = robot.next_click(np.zeros_like(robot.gt))
        return [] if click is None else [click]

    # --- prediction ---------------------------------------------------------------------
    @contextmanager
    def inference(self) -> Iterator[None]:
        """Eval mode without gradient for the block; the previous train/eval mode is restored."""
        was_training = self.network.training
        self.network.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.network.train(was_training)

    @abstractmethod
    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """Foreground probabilities (B, H, W) float32 in [0, 1] for a batch (a binary mask is a probability too).

        Args:
            images: B images (H, W), float32 in [0, 1].
            clicks: each image's clicks so far (first interaction, then the robot's), oldest first.
            prev_masks: each image's previous binary prediction (zeros before round 0).
        """

    def predict(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        """Foreground probability (H, W) of one image."""
        return self.predict_batch([image], [clicks], [prev_mask])[0]

    # --- training -----------------------------------------------------------------------
    def training_robots(self, labels: np.ndarray, rng: np.random.Generator) -> list[Robot]:
        """The simulated users of a training batch (default: the deterministic RITM robot)."""
        return [Robot(lab) for lab in labels]

    def simulate_interaction(
        self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[list[Click]], np.ndarray]:
        """Clicks and previous masks for a training batch, as the robot user would give them.

        RITM's iterative training: the first interaction, then a random number (0 ..
        ``max_train_rounds``) of corrective rounds, each predicted by the current network
        without gradient and corrected by the same :class:`Robot` used at evaluation.
        """
        robots = self.training_robots(labels, rng)
        clicks = [self.first_interaction(img, r) for img, r in zip(images, robots, strict=True)]
        prev = np.zeros(labels.shape, dtype=np.float32)
        if not self.interactive:
            return clicks, prev
        for _ in range(int(rng.integers(0, self.hparams.get("max_train_rounds", 0) + 1))):
            prev = (self.predict_batch(images, [r.clicks for r in robots], prev) > 0.5).astype(np.float32)
            for robot, mask in zip(robots, prev, strict=True):
                robot.next_click(mask)
        return [r.clicks for r in robots], prev

    @abstractmethod
    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """One optimisation step of the shared training loop on (B, H, W) images and binary labels.

        ``optimizer`` is :meth:`configure_optimizers`'; ``rng`` is the epoch's generator (draw
        every random choice from it, so a resumed training repeats it).

        Returns:
            ``{"loss": total}`` plus any loss components the method logs (averaged per
            epoch into ``loss.csv``).
        """


class ExternallyTrainedMethod(Method):
    """A method trained by its own framework (nnU-Net): the shared trainer calls
    :meth:`train_external` once instead of looping over :meth:`train_step`."""

    external_training: ClassVar[bool] = True

    @abstractmethod
    def train_external(
        self, images: np.ndarray, labels: np.ndarray, work_dir: Path, epochs: int, seed: int
    ) -> list[dict[str, float]]:
        """Train with the method's own framework in ``work_dir`` (removed after ``final.pt``) and
        load the result into :attr:`network` (plus :meth:`extra_state`).

        Returns:
            One row per epoch: ``epoch``, ``loss``, ``lr``, ``seconds`` and any other columns.
        """

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """Not used: the method trains through :meth:`train_external`."""
        raise TypeError(f"method {self.name!r} trains through its own framework (train_external), not train_step")


class PretrainedMethod(Method):
    """A method whose network is loaded, not trained (e.g. a SAM adapter): its train job records the
    weights file (:mod:`gdgp.training.pretrained`) and :meth:`load_pretrained` loads it for evaluation."""

    pretrained: ClassVar[bool] = True

    @abstractmethod
    def load_pretrained(self, checkpoint: Path) -> None:
        """Load the weights file ``checkpoint`` (``methods.<name>.checkpoint``) into :attr:`network`."""

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """Not used: a pretrained method is not trained."""
        raise TypeError(f"method {self.name!r} is pretrained: it is loaded (load_pretrained), not trained")


class EncodedNetworkMethod(Method):
    """A method that is "encode the image and clicks, then a network": implement
    :meth:`build_network` and :meth:`encode`; prediction is the sigmoid of the network's logits
    and training one step of :attr:`loss_fn` after simulated clicks (:meth:`simulate_interaction`)."""

    @abstractmethod
    def build_network(self) -> nn.Module:
        """The network; it maps (B, C, H, W) inputs (:meth:`encode`'s, stacked) to (B, 1, H, W) logits."""

    @abstractmethod
    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        """Network input (C, H, W) float32 for one image, its clicks and the previous mask."""

    def encode_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> torch.Tensor:
        """:meth:`encode` of every item, stacked into a (B, C, H, W) tensor on the method's device."""
        x = np.stack([self.encode(i, c, p) for i, c, p in zip(images, clicks, prev_masks, strict=True)])
        return torch.from_numpy(x).to(self.device)

    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """sigmoid(network(encode)) in eval mode, without gradient."""
        with self.inference():
            logits = self.network(self.encode_batch(images, clicks, prev_masks))
        return torch.sigmoid(logits[:, 0]).float().cpu().numpy()

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """Simulated clicks (:meth:`simulate_interaction`), then one step of :attr:`loss_fn` on the logits."""
        clicks, prev = self.simulate_interaction(images, labels, rng)
        x = self.encode_batch(images, clicks, prev)
        y = torch.from_numpy(labels[:, None].astype(np.float32)).to(self.device)
        self.network.train()
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.network(x), y)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach())}
