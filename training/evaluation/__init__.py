"""Evaluation of embeddings, as pure numpy functions. `metrics` gathers the figures (from `fewshot`,
`verification`, `identification`, on `distances`); `threshold` picks the distance threshold for a target
false-accept rate; `baseline` gives raw-pixel embeddings.
"""
