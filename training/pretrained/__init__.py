"""Pretrained weights that ship inside registry packages: finding the files, reading their formats."""
