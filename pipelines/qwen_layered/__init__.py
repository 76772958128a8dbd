"""The upstream Qwen-Image-Layered model behind layerdiff's decomposer contract, split by concern:

- :mod:`.pipeline`: :class:`QwenLayeredDecomposePipeline` (decomposition, the upstream defects it works
  around, the :class:`~layerdiff.contract.Decomposer` contract);
- :mod:`.processor`: the torchvision-free caption processor and the upstream loader;
- :mod:`.weights`: the files a weight folder needs, parameter counts from safetensors headers or configs;
- :mod:`.devices`: device and memory planning;
- :mod:`.hub`: registry names, hub ids and folders, cache and downloads.
"""

from .devices import DevicePlan, memory_needed_gb, plan_device
from .hub import HUB_ID, download_command
from .pipeline import DEFAULTS, MAX_LAYERS, RESOLUTIONS, QwenLayeredDecomposePipeline
from .processor import PilQwenVLProcessor
from .weights import check_weight_folder, component_parameters, missing_weight_files, safetensors_parameters

__all__ = [
    "DEFAULTS", "HUB_ID", "MAX_LAYERS", "RESOLUTIONS", "DevicePlan", "PilQwenVLProcessor",
    "QwenLayeredDecomposePipeline", "check_weight_folder", "component_parameters", "download_command",
    "memory_needed_gb", "missing_weight_files", "plan_device", "safetensors_parameters",
]
