"""layerdiff's Gradio web demo (``layerdiff demo`` or ``python -m demo.app``): app, backend, views, clicks."""
