"""Maintenance tools run with `python -m tools.<name>`: evaluation on SQuAD, ranker training."""
