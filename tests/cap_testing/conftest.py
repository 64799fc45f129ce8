"""cap_testing's own tests run sample user projects from the outside, through ``pytester``."""

pytest_plugins = ["pytester"]
