"""layerdiff pipelines (installed as ``layerdiff.pipelines``)."""
