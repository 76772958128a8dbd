"""Training scripts for the layerdiff models (run from the repository root)."""
