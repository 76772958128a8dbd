"""The region engine: flat-colour regions of a graphic grouped and ordered into layers (NumPy, no torch).

The decomposition and extraction path of layerdiff-tiny, and the parts the non-learned baselines
(:mod:`layerdiff.baselines`) are built from. Following an image through it:

- :mod:`~layerdiff.regions.config`: the engine's settings (:class:`RegionConfig`);
- :mod:`~layerdiff.regions.segment`: colour clustering in CIE Lab, connected components, region adjacency;
- :mod:`~layerdiff.regions.graph`: the region graph, owning the regions' convex hulls, the heuristic
  enclosure tree and its ancestry;
- :mod:`~layerdiff.regions.features`: region and pair features, the input of the learned layerer;
- :mod:`~layerdiff.regions.runtime`: the trained layerer evaluated in NumPy;
- :mod:`~layerdiff.regions.text_lines` and :mod:`~layerdiff.regions.ink`: detected text lines kept whole,
  their ink given regions of its own;
- :mod:`~layerdiff.regions.background`: the fitted background and the regions it does not explain;
  :mod:`~layerdiff.regions.halos`: the shadows and glows it does not explain, given to their layers;
  :mod:`~layerdiff.regions.faint`: shapes a few 8-bit steps off a smooth background, found by the residual;
  :mod:`~layerdiff.regions.overlays`: translucent panels over a pattern, found by their blend, a layer each;
  :mod:`~layerdiff.regions.texture_panels`: the same over a texture or a photo, found by their edges;
  :mod:`~layerdiff.regions.fades`: a fade or vignette over the whole background, a layer of its own;
- :mod:`~layerdiff.regions.photo`: photographs (placed in a frame, or the background) kept whole;
- :mod:`~layerdiff.regions.solve` and :mod:`~layerdiff.regions.fragments`: relations -> one layer per region
  (on a transparent canvas, flat vector art puts each paint in a layer of its own);
- :mod:`~layerdiff.regions.paint` and :mod:`~layerdiff.regions.fill`: masks, matting, push-pull fill, the
  work-size round trip with exact recomposition;
- :mod:`~layerdiff.regions.hidden` and :mod:`~layerdiff.regions.vector_art`: what each layer hides,
  completed (shadows to their caster, ellipses whole, no copies of what lies above), and a flag's bottom
  layer cut to what it shows; :mod:`~layerdiff.regions.emoji_art`: under an emoji's parts, the bottom
  layer's own paint instead of the canvas;
- :mod:`~layerdiff.regions.prompts`: what a box or a phrase refers to;
- :mod:`~layerdiff.regions.decomposer` and :mod:`~layerdiff.regions.referrer`: the
  :class:`~layerdiff.contract.Decomposer` and :class:`~layerdiff.contract.Extractor` that
  :func:`layerdiff.load` returns for layerdiff-tiny.
"""

from __future__ import annotations

from .config import RegionConfig
from .decomposer import RegionLayerDecomposer
from .referrer import RegionReferrer

__all__ = ["RegionConfig", "RegionLayerDecomposer", "RegionReferrer"]
