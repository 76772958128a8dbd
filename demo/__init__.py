"""layerdiff's Gradio web demo (``layerdiff demo`` or ``python demo/app.py``)."""
