"""The optimisers that move I-GOS / iGOS++ masks, as ``optimizer=`` objects.

>>> from captum_igos import IGOS
>>> from captum_igos.optimizers import LineSearch, Nesterov
>>> papers = LineSearch(warm_start=False)   # every search restarts at alpha0 = 1000
>>> fast = Nesterov(step_size=0.5)          # fixed steps with momentum, no line search

``IGOS(model).attribute(x, optimizer=papers)``; the names ``"line_search"`` and ``"nag"``
mean ``LineSearch()`` and ``Nesterov()``.
"""

from captum_igos._utils.optimizers import LineSearch, Nesterov

__all__ = ["LineSearch", "Nesterov"]
