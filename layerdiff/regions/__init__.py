"""Learned region layering: region graph, pair and layer features, the layer solver, the fragment test, the
region decomposer and referrer (the decomposition and extraction path of layerdiff-tiny for flat graphics)."""
