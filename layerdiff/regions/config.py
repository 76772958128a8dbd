"""Settings shared by every step of the region engine."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RegionConfig"]


@dataclass
class RegionConfig:
    """Settings of the region engine: segmentation (colour clusters, merging, flat-pixel test, smallest
    region, k-means seed), the working size and the matting radius (CIE76 colour distances in Lab units)."""

    work_size: int = 512
    max_colours: int = 16
    merge_delta_e: float = 10.0
    similar_delta_e: float = 12.0
    flat_threshold: float = 6.0
    min_area_fraction: float = 0.0003
    matte_radius: int = 3
    seed: int = 0
