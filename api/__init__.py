"""FastAPI app and the chat widget's static files."""
