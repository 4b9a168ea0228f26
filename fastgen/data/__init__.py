"""Datasets for the demos: loaders of real data a user has, and procedural generators that write
the same formats, so that nothing needs downloading."""
