"""Installing the GIMP 3 plug-in (the plug-in itself is in plugins/gimp/ and needs only GIMP's Python)."""

from cyclegan_fx.gimp.install import PLUGIN_NAME, gimp_user_dir, install_plugin, uninstall_plugin

__all__ = ["PLUGIN_NAME", "gimp_user_dir", "install_plugin", "uninstall_plugin"]
