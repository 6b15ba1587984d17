"""Wheel tag: the bundled companion carries zeromq's prebuilt addon for Linux x64 with glibc (it needs
glibc 2.25; Node.js 20 itself needs 2.28), so the wheel says so instead of claiming any platform."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name == "wheel" and version != "editable":
            build_data["pure_python"] = False
            build_data["tag"] = "py3-none-manylinux_2_28_x86_64"
