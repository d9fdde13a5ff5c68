"""The values that config keys accept. Torch-free: the command line checks a config with them
before it imports anything heavy."""

SAMPLING_MODES = ("first", "last", "random")
SHORT_CLIP_MODES = ("error", "loop", "pad")
MAPS_DTYPES = ("float32", "float16")
POLARITIES = ("positive", "negative", "both")
METRIC_GROUPS = ("localisation", "faithfulness", "smoothness")
CURVE_BASELINES = ("blur", "zero")
# Grad-CAM (videoattr.methods.gradcam): how channels are weighted, how the layer's activations are laid
# out, and how the map is brought from the layer's grid to the clip's T x H x W.
CHANNEL_WEIGHTS = ("per_time", "global", "elementwise")
GRADCAM_LAYOUTS = ("auto", "channels_first", "channels_last", "frames", "tokens", "cls_tokens")
GRADCAM_UPSAMPLING = ("auto", "reference", "trilinear")
# Integrated gradients' baseline clip (videoattr.methods.backprop.integrated_gradients).
IG_BASELINES = ("auto", "black", "zero")
# Attention rollouts (videoattr.methods.rollout): how the heads of a block are fused.
HEAD_FUSIONS = ("mean", "max")
# Removal methods (videoattr.methods.removal): what a removed region becomes, and the score they explain.
REMOVAL_PERTURBATIONS = ("blur", "fade", "mean")
REMOVAL_SCORES = ("probability", "logit")
STEPS_BY = ("pixels", "supervoxels")
