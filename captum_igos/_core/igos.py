r"""I-GOS: saliency masks optimised along integrated-gradient descent directions.

Qi, Khorram, Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients",
AAAI 2020, arXiv:1905.00954.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captum_igos._core.mask_optimization import CheckedOptions, MaskAttribution
from captum_igos._utils.masks import l1_to_ones, total_variation, upsample_mask
from captum_igos._utils.optimizers import Masks
from captum_igos._utils.path_scores import Noise, PathScorer


@dataclass(frozen=True)
class IGOSObjective:
    r"""Path-averaged I-GOS objective and its descent direction.

    .. math:: F_S(M) = \frac1S \sum_{s=1}^S f_c\big(\Phi(x, \tilde x, \tfrac sS M)
              + \epsilon_s\big) + \lambda_1\, \mathrm{mean}|1 - M| + \lambda_{TV}\, TV(M),

    and the direction :math:`g = \nabla_M F_S(M)`: the regulariser's gradient plus the
    integrated gradient of the score along the path that scales the mask from 0 to M.
    The L1 term's gradient at :math:`M = 1` is that of ``mean(1 - M)`` (``l1_pull_at_one``,
    the default) or zero (``mean|1 - M|`` through ``abs``, the authors' code;
    :func:`~captum_igos._utils.masks.l1_to_ones`).
    """

    scorer: PathScorer
    mask_size: tuple[int, int]
    l1_coeff: float
    tv_coeff: float
    n_masks: int = 1
    l1_pull_at_one: bool = True

    def regulariser(self, mask: Tensor) -> Tensor:
        """:math:`\\lambda_1 \\mathrm{mean}|1 - M| + \\lambda_{TV} TV(M)` per image."""
        l1 = l1_to_ones(mask, self.l1_pull_at_one)
        return self.l1_coeff * l1 + self.tv_coeff * total_variation(mask)

    def lower_bound(self, masks: Masks, image_index: Tensor) -> Tensor:
        """A lower bound of :math:`F_S(M)` without the model: the regulariser plus the
        score's lowest value (``-inf`` for an unbounded score), shape (n,)."""
        (mask,) = masks
        return self.regulariser(mask) + self.scorer.bounds(image_index)[0]

    def evaluate(
        self, masks: Masks, image_index: Tensor, noise: Noise, with_grad: bool
    ) -> tuple[Tensor, Masks | None]:
        """:math:`F_S(M)` of shape (n,) for the images ``image_index`` (indices into the
        scorer's images) and, if asked, :math:`(g,)`."""
        (mask,) = masks
        image_size = tuple(self.scorer.images.shape[-2:])
        # I-GOS has deletion paths only.
        insertion = torch.zeros(image_index.shape[0], dtype=torch.bool, device=mask.device)
        with torch.set_grad_enabled(with_grad):
            leaf = mask.detach().requires_grad_(with_grad)
            up_mask = upsample_mask(leaf, image_size)
            scores, up_grads = self.scorer.path_scores(
                up_mask, image_index, insertion, noise, with_grad
            )
            regulariser = self.regulariser(leaf)
            loss = scores + regulariser.detach()
            if not with_grad:
                return loss, None
            assert up_grads is not None  # with_grad: the scorer returned the gradients
            (direction,) = torch.autograd.grad((up_mask * up_grads).sum() + regulariser.sum(), leaf)
        return loss, (direction,)

    def named_masks(self, masks: Masks) -> dict[str, Tensor]:
        return {"mask": masks[0]}


class IGOS(MaskAttribution):
    r"""I-GOS (Qi, Khorram, Li, AAAI 2020, arXiv:1905.00954) as a Captum attribution.

    Finds a small, smooth mask :math:`M \in [0,1]^{h \times w}` whose deletion (blending
    the image into the baseline where :math:`M` is small) destroys the target's score,

    .. math:: \min_M\; f_c(\Phi(x, \tilde x, M)) + \lambda_1 \mathrm{mean}|1 - M|
              + \lambda_{TV} TV(M),

    with :math:`\Phi(a, b, M) = a \cdot up(M) + b \cdot (1 - up(M))`. Instead of the plain
    gradient it descends along the integrated gradient

    .. math:: g = \nabla_M \mathrm{reg}(M) + \frac1S \sum_{s=1}^S \nabla_M
              f_c\big(\Phi(x, \tilde x, \tfrac sS M) + \epsilon_s\big),

    with a backtracking (Armijo) line search per image or Nesterov steps. The attribution
    is the heatmap :math:`1 - up(M)`.

    The mask starts at ones. All integration steps of all images go through the model as
    one batch (chunked by ``internal_batch_size``) with gradients taken with respect to
    the mask only; each line-search trial evaluates every image still searching in one
    batch; an image whose mask stops changing costs no further passes.

    Args:
        forward_func: the model or any function from inputs to outputs.

    Example:
        >>> import torch
        >>> from captum_igos import IGOS
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
        ...                             torch.nn.Flatten()).eval()
        >>> images = torch.rand(2, 3, 16, 16)
        >>> # a random model is barely sure of anything: no L1 pull, so its maps still move
        >>> heatmaps = IGOS(model).attribute(images, target=1, mask_size=4, iterations=2,
        ...                                  n_steps=2, l1_coeff=0.0, tv_coeff=1.0,
        ...                                  generator=torch.Generator().manual_seed(0))
        >>> heatmaps.shape, bool(heatmaps.min() >= 0), bool(heatmaps.max() <= 1)
        (torch.Size([2, 3, 16, 16]), True, True)
        >>> bool((heatmaps.flatten(1).amax(dim=1) > 1e-3).all())  # both maps moved
        True
    """

    def _objective(self, scorer: PathScorer, options: CheckedOptions) -> IGOSObjective:
        return IGOSObjective(scorer, options.mask_size, options.l1_coeff, options.tv_coeff,
                             l1_pull_at_one=options.l1_pull_at_one)
