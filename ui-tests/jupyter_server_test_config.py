"""JupyterLab for the Galata tests: Galata's settings, our extension, the companion behind the proxy."""

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

# The extension manager would query PyPI; tests stay on this machine.
c.LabApp.extension_manager = "readonly"  # noqa: F821

# Not 8888: that is where `dev/start.sh` serves the lab for people.
c.ServerApp.port = 8890  # noqa: F821
