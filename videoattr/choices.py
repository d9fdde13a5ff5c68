"""The values that config keys accept. Torch-free: the command line checks a config with them
before it imports anything heavy."""

SAMPLING_MODES = ("first", "last", "random")
SHORT_CLIP_MODES = ("error", "loop", "pad")
POLARITIES = ("positive", "negative", "both")
METRIC_GROUPS = ("localisation", "faithfulness", "smoothness")
CURVE_BASELINES = ("blur", "zero")
STEPS_BY = ("pixels", "supervoxels")
