"""VALL-E recipe library: text, alignment, codec, data, models, training, inference, evaluation.

Knows nothing about recipe paths: the stage scripts in local/ pass every path in.
"""
__version__ = "0.1.0"
