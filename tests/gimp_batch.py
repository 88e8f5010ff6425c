"""Runs inside a real GIMP 3 (python-fu-eval batch mode): the cases of a job file, then a JSON report.

Each case loads an image, optionally moves the layer, selects a rectangle, changes the precision or
makes the drawable a layer group or the image indexed, runs a cyclegan-fx procedure ``repeat``
times (default once, ``pause`` seconds apart), and dumps every layer's pixels (as raw bytes at the image's precision) with
what GIMP says about them (unless ``dump`` is false).
The job file's path is in $CFX_GIMP_JOB. Standard library and gi only; gimp_window.py imports its helpers.
"""

import json
import os
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

FORMATS = {"u8": "u8", "u16": "u16"}


def layer_format(image, layer):
    sample = FORMATS.get(image.get_precision().value_nick.split("-")[0], "float")
    model = ("Y'" if layer.is_gray() else "R'G'B'") + ("A" if layer.has_alpha() else "")
    return f"{model} {sample}"


def dump_layer(image, layer, path):
    fmt = layer_format(image, layer)
    rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
    with open(path, "wb") as f:
        f.write(layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))
    _, x, y = layer.get_offsets()
    return {"name": layer.get_name(), "raw": path, "format": fmt, "width": layer.get_width(),
            "height": layer.get_height(), "offsets": [x, y], "gray": layer.is_gray(), "alpha": layer.has_alpha()}


def prepare(image, layer, case):
    if case.get("offsets"):
        dx, dy = case["offsets"]
        image.resize(image.get_width() + 2 * dx, image.get_height() + 2 * dy, dx, dy)
    if case.get("precision"):
        image.convert_precision(getattr(Gimp.Precision, case["precision"]))
    if case.get("select"):
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *case["select"])
    if case.get("feather"):
        Gimp.Selection.feather(image, case["feather"])
    if case.get("make") == "indexed":
        image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, "")
    if case.get("make") == "group":
        group = Gimp.GroupLayer.new(image, "group")
        image.insert_layer(group, None, 0)
        return group
    return layer


def run_case(pdb, case, out_dir):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["input"]))
    layer = prepare(image, image.get_layers()[0], case)
    procedure = pdb.lookup_procedure(case["procedure"])
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for name, value in case.get("args", {}).items():
        config.set_property(name, value)
    runs = []
    for i in range(case.get("repeat", 1)):
        time.sleep(case.get("pause", 0) if i else 0)  # a user's pause between clicks
        started = time.monotonic()
        result = procedure.run(config)
        runs.append(time.monotonic() - started)
    error = result.index(1) if result.length() > 1 else None
    report = {"status": result.index(0).value_nick, "error": error, "seconds": runs,
              "precision": image.get_precision().value_nick, "base_type": image.get_base_type().value_nick,
              "layers": []}
    if not case.get("make") and case.get("dump", True):
        for i, each in enumerate(image.get_layers()):
            report["layers"].append(dump_layer(image, each, os.path.join(out_dir, f"{case['id']}-{i}.raw")))
    image.delete()
    return report


def procedures(pdb):
    found = []
    for name in pdb.query_procedures("cyclegan-fx-.*", "", "", "", "", "", "", ""):
        procedure = pdb.lookup_procedure(name)
        found.append({"name": name, "label": procedure.get_menu_label(), "menu_paths": procedure.get_menu_paths(),
                      "image_types": procedure.get_image_types(),
                      "arguments": [a.get_name() for a in procedure.get_arguments()]})
    return found


def main():
    with open(os.environ["CFX_GIMP_JOB"]) as f:
        job = json.load(f)
    pdb = Gimp.get_pdb()
    report = {"procedures": procedures(pdb), "cases": {}}
    for case in job["cases"]:
        report["cases"][case["id"]] = run_case(pdb, case, job["out_dir"])
    with open(os.path.join(job["out_dir"], "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":  # python-fu-eval runs the script in its own __main__
    main()
