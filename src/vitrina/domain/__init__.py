"""Values and rules: what vitrina's words mean, with no I/O."""
