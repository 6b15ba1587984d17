# The testbed's JupyterHub, as a site runs it on a login node: PAM passwords, the local process
# spawner, and the single-user environment a spawner gives (no login shell, no XDG_RUNTIME_DIR,
# a PATH that has the lab's environment and Slurm but no Node). dev/hub/up.sh sets the SK_HUB_*.
import os

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

c.JupyterHub.ip = os.environ["SK_HUB_IP"]
c.JupyterHub.port = int(os.environ["SK_HUB_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.cookie_secret_file = os.path.join(os.environ["SK_HUB_STATE"], "cookie_secret")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(os.environ["SK_HUB_STATE"], "jupyterhub.sqlite")
c.JupyterHub.pid_file = os.path.join(os.environ["SK_HUB_STATE"], "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [os.environ["SK_HUB_PROXY"]]
c.ConfigurableHTTPProxy.pid_file = os.path.join(os.environ["SK_HUB_STATE"], "proxy.pid")
# The hub's servers end with it: nothing of the test user outlives dev/hub/down.sh.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(os.environ["SK_HUB_USERS"].split())

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(os.environ["SK_HUB_LAB_ENV"], "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# Exactly what a spawner gives: nothing kept from the hub's own environment but this.
c.Spawner.env_keep = []
c.Spawner.environment = {"PATH": os.environ["SK_HUB_USER_PATH"], "LANG": "C.UTF-8"}
