"""A stand-in third-party package: rewards imported by dotted path (``aigc_rl_test_plugins.rewards:...``)."""
