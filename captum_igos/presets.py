r"""Keyword options that reproduce the authors' I-GOS and iGOS++ code.

``IGOS(model).attribute(x, **AUTHORS_IGOS)`` and
``IGOSPlusPlus(model).attribute(x, **AUTHORS_IGOS_PLUS_PLUS)`` compute what the published
code (khorrams/IGOS_pp, commit b0820a2, ``methods.IGOS`` / ``methods.iGOS_pp``) computes:
20 iterations of 15 integration steps, L1 1, TV 20, a line search restarted at 1000 in
every iteration, the softmax probability itself as the score term. With
``noise_std=0`` and one thread, one iteration from any state of theirs gives their next
state to 2e-3 and the same step (``tests/_core/test_reproduction.py``, against masks
their code produced; ``benchmarks/results/reproduction.md``). The package's defaults
differ on purpose; the method pages of the documentation list every difference with its
measured effect.

What the presets switch, beyond the numbers:

- ``objective="paper"``: the score term is :math:`f_c`, not :math:`f_c / f_c(x)`.
- ``l1_pull_at_one=False``: the L1 term goes through ``abs``, so its subgradient at
  :math:`M = 1` is zero (I-GOS's default pulls every cell off 1).
- ``fresh_noise=True``: new noise for every image, step and evaluation, the line search's
  trials included.
- ``LineSearch(warm_start=False, armijo_test="gradient", step_when_rejected=True)``: each
  search starts at 1000, tests :math:`F(M^+) \le F(M) - 10^{-4} \alpha \lVert g\rVert^2`
  and, if no step down to 1e-5 passes, takes 4.1e-6 anyway.
- iGOS++: ``mask_product="upsampled"`` (the path terms see :math:`up(M_d)\,up(M_i)`),
  ``bilateral_image="input"`` and ``bilateral_channels="authors"`` (the bilateral
  weights come from the normalised model input, with their code's channel averaging).

The masks are bilinearly upsampled with aligned corners, as in their code, by every
setting of the package. Not reproduced: their ``init_mask`` argument other than ones
(pass ``initial_mask=``) and their Nesterov variant's :math:`\theta_{-1} = 0` (the
package's starts at the mask).

Example:
    >>> from captum_igos.presets import AUTHORS_IGOS, AUTHORS_IGOS_PLUS_PLUS
    >>> AUTHORS_IGOS["iterations"], AUTHORS_IGOS["n_steps"], AUTHORS_IGOS["objective"]
    (20, 15, 'paper')
    >>> AUTHORS_IGOS_PLUS_PLUS["mask_product"]
    'upsampled'
"""

from __future__ import annotations

from typing import Any

from captum_igos._utils.optimizers import LineSearch

#: The authors' line search: restarted at 1000 every iteration, the papers' Armijo test,
#: and a step of 1000 * 0.2^12 = 4.1e-6 taken when no step down to 1e-5 passes.
AUTHORS_LINE_SEARCH = LineSearch(
    alpha0=1000.0, decay=0.2, armijo=1e-4, min_alpha=1e-5, warm_start=False,
    armijo_test="gradient", step_when_rejected=True,
)

#: ``IGOS.attribute`` / ``optimize`` keywords of the authors' ``methods.IGOS``.
AUTHORS_IGOS: dict[str, Any] = {
    "mask_size": 28,
    "iterations": 20,
    "n_steps": 15,
    "l1_coeff": 1.0,
    "tv_coeff": 20.0,
    "noise_std": 0.2,
    "fresh_noise": True,
    "optimizer": AUTHORS_LINE_SEARCH,
    "score": "probability",
    "objective": "paper",
    "l1_pull_at_one": False,
}

#: ``IGOSPlusPlus.attribute`` / ``optimize`` keywords of the authors' ``methods.iGOS_pp``.
AUTHORS_IGOS_PLUS_PLUS: dict[str, Any] = {
    **AUTHORS_IGOS,
    "mask_product": "upsampled",
    "bilateral_image": "input",
    "bilateral_channels": "authors",
}

__all__ = ["AUTHORS_IGOS", "AUTHORS_IGOS_PLUS_PLUS", "AUTHORS_LINE_SEARCH"]
