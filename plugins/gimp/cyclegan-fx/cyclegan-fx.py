#!/usr/bin/env python3
"""GIMP 3: Filters > CycleGAN > one entry per installed model and direction.

The translation runs in a warm local ``cyclegan-fx serve`` (started on demand), which calls the same
runner as ``cyclegan-fx apply``; this file needs only GIMP's Python. Install it with
``cyclegan-fx gimp install``.
"""

import logging
import os
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

PLUGIN_DIR = Path(os.path.abspath(__file__)).parent
sys.path.insert(0, str(PLUGIN_DIR))
import cyclegan_fx_gimp as core  # noqa: E402

log = logging.getLogger("cyclegan-fx")


class CycleganFx(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return []  # GIMP caches this list; the models' procedures are listed at every start below

    def do_init_procedures(self):
        return [spec.name for spec in self._specs()]

    def do_create_procedure(self, name):
        spec = next(s for s in self._specs() if s.name == name)
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, spec)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(spec.label)
        procedure.add_menu_path(core.MENU_PATH)
        procedure.set_documentation(
            f"{spec.label} (cyclegan-fx model {spec.model}, {spec.direction})",
            "Translates the whole layer with a CycleGAN generator in the local cyclegan-fx service and writes "
            "the result inside the selection, at the layer's own precision.",
            name,
        )
        procedure.set_attribution("cyclegan-fx", "cyclegan-fx", "2026")
        flags = GObject.ParamFlags.READWRITE  # mnemonics: the dialog's Save Settings button has alt+S
        procedure.add_double_argument("strength", "S_trength", "0 keeps the layer, 1 is the full translation",
                                      0.0, 1.0, 1.0, flags)
        recommended = f"{spec.work_size} px" if spec.work_size else "full resolution"
        procedure.add_string_argument("work-size", "_Work size",
                                      f"'model' (this model's recommendation: {recommended}), 'full', or a long "
                                      "side in pixels such as 1536", "model", flags)
        procedure.add_boolean_argument("new-layer", "_New layer",
                                       "Put the result in a new layer above (otherwise change the layer)", True, flags)
        return procedure

    def _specs(self):
        return core.installed_procedures(core.store_home())


def run(procedure, run_mode, image, drawables, config, spec):
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config, spec):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
    try:
        _translate_layer(image, drawables, config, spec)
    except core.PluginError as exc:
        return _failure(procedure, str(exc))
    except Exception as exc:  # never a traceback in GIMP's error console: one sentence
        return _failure(procedure, f"cyclegan-fx failed unexpectedly ({type(exc).__name__}: {exc}).")
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)


def _failure(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def _dialog(procedure, config, spec):
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("cyclegan-fx")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, spec.label)
    dialog.fill(None)
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def _translate_layer(image, drawables, config, spec):
    layer = _target_layer(image, drawables)
    work_size = core.parse_work_size(config.get_property("work-size"))
    if not layer.mask_intersect()[0]:
        raise core.PluginError("The selection does not touch the layer; select part of it, or nothing.")
    width, height = layer.get_width(), layer.get_height()
    fmt = core.pixel_format(image.get_precision().value_nick, layer.is_gray(), layer.has_alpha())
    Gimp.progress_init(f"{spec.label}: reading pixels")
    started = time.monotonic()
    rect = Gegl.Rectangle.new(0, 0, width, height)  # the whole layer: the statistics are the whole layer's
    data = layer.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
    pixels = core.Pixels(core.little_endian(data, fmt.dtype), height, width, fmt.channels, fmt.dtype)
    read = time.monotonic()
    Gimp.progress_set_text(f"{spec.label}: waiting for the cyclegan-fx service")
    client = core.connect(core.store_home(), PLUGIN_DIR)
    connected = time.monotonic()
    Gimp.progress_set_text(spec.label)
    result, answer = core.translate(client, spec, pixels, config.get_property("strength"), work_size,
                                    Gimp.progress_update)
    translated = time.monotonic()
    _write(image, layer, spec.label, rect, fmt.babl, core.little_endian(result, fmt.dtype),
           config.get_property("new-layer"))
    Gimp.progress_end()
    done = time.monotonic()
    log.info("%s on %dx%d %s: read %.2f s, connect %.2f s, service %.2f s (runner %.2f s), write %.2f s, "
             "total %.2f s.", spec.label, width, height, fmt.babl, read - started, connected - read,
             translated - connected, answer.get("seconds", 0.0), done - translated, done - started)


def _target_layer(image, drawables):
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise core.PluginError("CycleGAN works on RGB and grayscale images; convert this indexed image with "
                               "Image > Mode > RGB first.")
    if len(drawables) != 1:
        raise core.PluginError("Select exactly one layer for CycleGAN.")
    layer = drawables[0]
    if not isinstance(layer, Gimp.Layer) or isinstance(layer, Gimp.LayerMask):
        raise core.PluginError("CycleGAN changes layers, not channels or masks; select a layer.")
    if layer.is_group():
        raise core.PluginError("CycleGAN cannot change a layer group; select a layer inside it.")
    return layer


def _write(image, layer, label, rect, babl, data, new_layer):
    """Through the shadow buffer, so the selection (feathered too) decides what changes; one undo step."""
    image.undo_group_start()
    try:
        target = layer
        if new_layer:
            target = layer.copy()
            target.set_name(label)
            image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
        shadow = target.get_shadow_buffer()
        shadow.set(rect, babl, data)
        shadow.flush()
        target.merge_shadow(True)
        target.update(0, 0, rect.width, rect.height)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


logging.basicConfig(level=logging.INFO, format="cyclegan-fx: %(message)s", stream=sys.stderr)
Gimp.main(CycleganFx.__gtype__, sys.argv)
