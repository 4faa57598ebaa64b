r"""iGOS++: deletion and insertion masks optimised together, with bilateral total variation.

Khorram, Lawson, Li, "iGOS++: Integrated Gradient Optimized Saliency by Bilateral
Perturbations", ACM CHIL 2021, arXiv:2012.15783; Nesterov variant: Jiang, Khorram, Li,
"Diverse Explanations for Object Detectors with Nesterov-Accelerated iGOS++", BMVC 2023.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captum_igos._core.mask_optimization import CheckedOptions, MaskAttribution, MaskProduct
from captum_igos._utils.masks import bilateral_tv, bilateral_weights, l1_to_ones, upsample_mask
from captum_igos._utils.optimizers import Masks
from captum_igos._utils.path_scores import Noise, PathScorer

#: Signs of the four path scores in the loss: D(M_d) - I(M_i) + D(M_d M_i) - I(M_d M_i).
TERM_SIGNS = (1.0, -1.0, 1.0, -1.0)
#: Which of the four paths are insertion paths (the others are deletion paths).
TERM_IS_INSERTION = (False, True, False, True)


@dataclass(frozen=True)
class IGOSPlusPlusObjective:
    r"""Path-averaged iGOS++ objective of the two masks and its descent directions.

    With :math:`D` and :math:`I` the deletion and insertion path scores
    (:class:`~captum_igos._utils.path_scores.PathScorer`) and :math:`M_c = M_d M_i`,

    .. math:: F = D(M_d) - I(M_i) + D(M_c) - I(M_c) + \lambda_1 \mathrm{mean}|1 - M_c|
              + \lambda_{TV}\, BTV(x, M_c).

    Each mask's direction is half the gradient of the four path terms plus the full
    gradient of the regulariser (the path terms count each mask twice). The L1 term goes
    through ``abs``, as in the authors' code: its subgradient is zero where
    :math:`M_c = 1`, so a cell moves off 1 only where the path terms push it
    (:func:`~captum_igos._utils.masks.l1_to_ones`; on 12 views the iGOS++ ablation in
    ``benchmarks/`` scored it better than the mean's :math:`-1/(hw)` pull there on the
    authors' 28 x 28-cell metric and within 0.02 of it on pixels). The four paths of all
    images are evaluated in one batch.

    Attributes:
        scorer: the path scores.
        mask_size: (h, w).
        l1_coeff, tv_coeff: :math:`\lambda_1`, :math:`\lambda_{TV}`.
        weights: :func:`~captum_igos._utils.masks.bilateral_weights` of all N images.
        term_signs: signs of :math:`D(M_d), I(M_i), D(M_c), I(M_c)` in :math:`F`.
        path_weight: factor on the path terms' gradient in each direction (0.5: each
            mask appears in two of the four terms).
        l1_pull_at_one: the L1 term's gradient at :math:`M_c = 1`: zero (``False``, the
            default and the authors') or that of ``mean(1 - M_c)``.
        mask_product: :math:`M_c` on the path terms' paths: ``"low_resolution"``,
            :math:`up(M_d M_i)`, or ``"upsampled"``, :math:`up(M_d)\,up(M_i)` (the
            authors' code); the regulariser always takes :math:`M_d M_i`.
    """

    scorer: PathScorer
    mask_size: tuple[int, int]
    l1_coeff: float
    tv_coeff: float
    weights: tuple[Tensor, Tensor]
    term_signs: tuple[float, float, float, float] = TERM_SIGNS
    path_weight: float = 0.5
    n_masks: int = 2
    l1_pull_at_one: bool = False
    mask_product: MaskProduct = "low_resolution"

    def regulariser(self, mask: Tensor, image_index: Tensor) -> Tensor:
        r""":math:`\lambda_1 \mathrm{mean}|1 - M| + \lambda_{TV} BTV(x, M)` per image."""
        weights = tuple(weight[image_index] for weight in self.weights)
        l1 = l1_to_ones(mask, pull_at_one=self.l1_pull_at_one)
        return self.l1_coeff * l1 + self.tv_coeff * bilateral_tv(mask, weights)

    def lower_bound(self, masks: Masks, image_index: Tensor) -> Tensor:
        """A lower bound of :math:`F` without the model: the regulariser plus each path
        term at the bound that makes it smallest (probabilities: :math:`-2`), shape (n,)."""
        lowest, highest = self.scorer.bounds(image_index)
        terms = sum(sign * (lowest if sign > 0 else highest) for sign in self.term_signs)
        deletion_mask, insertion_mask = masks
        return self.regulariser(deletion_mask * insertion_mask, image_index) + terms

    def evaluate(
        self, masks: Masks, image_index: Tensor, noise: Noise, with_grad: bool
    ) -> tuple[Tensor, Masks | None]:
        """:math:`F` of shape (n,) for the images ``image_index`` (indices into the
        scorer's images) and, if asked, both directions."""
        n, device = image_index.shape[0], image_index.device
        image_size = tuple(self.scorer.images.shape[-2:])
        insertion = torch.tensor(TERM_IS_INSERTION, device=device).repeat_interleave(n)
        signs = torch.tensor(self.term_signs, dtype=masks[0].dtype, device=device)
        with torch.set_grad_enabled(with_grad):
            deletion_mask, insertion_mask = (m.detach().requires_grad_(with_grad) for m in masks)
            combined = deletion_mask * insertion_mask
            if self.mask_product == "upsampled":
                up = upsample_mask(torch.cat([deletion_mask, insertion_mask]), image_size)
                up = torch.cat([up, up[:n] * up[n:]])
            else:
                up = upsample_mask(torch.cat([deletion_mask, insertion_mask, combined]), image_size)
            up_masks = torch.cat([up, up[2 * n :]])  # D(M_d), I(M_i), D(M_c), I(M_c)
            scores, up_grads = self.scorer.path_scores(
                up_masks, image_index.repeat(4), insertion, noise, with_grad
            )
            regulariser = self.regulariser(combined, image_index)
            loss = (signs.view(4, 1) * scores.view(4, n)).sum(dim=0) + regulariser.detach()
            if not with_grad:
                return loss, None
            assert up_grads is not None  # with_grad: the scorer returned the gradients
            path_terms = (signs.repeat_interleave(n).view(-1, 1, 1, 1) * up_masks * up_grads).sum()
            directions = torch.autograd.grad(
                self.path_weight * path_terms + regulariser.sum(), (deletion_mask, insertion_mask)
            )
        return loss, tuple(directions)

    def named_masks(self, masks: Masks) -> dict[str, Tensor]:
        deletion_mask, insertion_mask = masks
        return {
            "mask": deletion_mask * insertion_mask,
            "deletion_mask": deletion_mask,
            "insertion_mask": insertion_mask,
        }


class IGOSPlusPlus(MaskAttribution):
    r"""iGOS++ (Khorram, Lawson, Li, ACM CHIL 2021, arXiv:2012.15783) as a Captum attribution.

    Optimises a deletion mask :math:`M_d` (removing where it is small destroys the
    score) and an insertion mask :math:`M_i` (keeping only where it is small preserves
    the score) together; the explanation is :math:`M_d M_i`:

    .. math:: \min_{M_d, M_i}\; D(M_d) - I(M_i) + D(M_d M_i) - I(M_d M_i)
              + \lambda_1 \mathrm{mean}|1 - M_d M_i| + \lambda_{TV} BTV(x, M_d M_i),

    :math:`D(M) = \frac1S \sum_s f_c(\Phi(x, \tilde x, \tfrac sS M) + \epsilon_s)`,
    :math:`I(M) = \frac1S \sum_s f_c(\Phi(\tilde x, x, \tfrac sS M) + \epsilon_s)`, and the
    bilateral TV :math:`BTV(x, M) = \tfrac12 (TV(M) + \mathrm{mean}(w_y (\partial_y up M)^2)
    + \mathrm{mean}(w_x (\partial_x up M)^2))` with :math:`w = \exp(-(\Delta I)^2 / 0.01)`
    on the image min-max normalised to [0, 1] (so the weights do not depend on the
    model's input normalisation) and averaged over channels. Descent directions are the
    integrated gradients of the path terms, halved, plus the regulariser's (sub)gradient,
    zero for the L1 term where :math:`M_d M_i = 1`; one
    line-search step size per image moves both masks (or Nesterov steps, BMVC 2023). The
    attribution is :math:`1 - up(M_d M_i)`.

    All four paths of all images go through the model as one batch (chunked by
    ``internal_batch_size``), so one evaluation costs ``4 * N * n_steps`` examples.

    Args:
        forward_func: the model or any function from inputs to outputs.

    Example:
        >>> import torch
        >>> from captum_igos import IGOSPlusPlus
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
        ...                             torch.nn.Flatten()).eval()
        >>> images = torch.rand(2, 3, 16, 16)
        >>> result = IGOSPlusPlus(model).optimize(images, target=1, mask_size=4, iterations=2,
        ...                                       n_steps=2)
        >>> torch.equal(result.mask, result.deletion_mask * result.insertion_mask)
        True
    """

    _n_masks = 2
    _l1_pull_at_one = False

    def _objective(self, scorer: PathScorer, options: CheckedOptions) -> IGOSPlusPlusObjective:
        weights = bilateral_weights(scorer.images, source=options.bilateral_image,
                                    channels=options.bilateral_channels)
        return IGOSPlusPlusObjective(
            scorer, options.mask_size, options.l1_coeff, options.tv_coeff, weights,
            l1_pull_at_one=options.l1_pull_at_one, mask_product=options.mask_product,
        )
