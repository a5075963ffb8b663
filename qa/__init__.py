"""Answering: retrieval, ranking, sentence extraction, dates."""
