"""Offline training of Siamese encoders: data, losses, encoders, evaluation and ONNX export.

Importing the package is cheap; torch is imported only by the modules that need it.
"""
