"""Ingestion, chunking, embedding, FAISS + SQLite metadata store."""
