"""ONNX export and verification, segment packs, the ONNX Runtime backend, TensorRT engines and sidecars."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers import cpu_runner, invoke, psnr, tiny_generator

from cyclegan_fx.export.build import build_onnx_pack, export_onnx
from cyclegan_fx.export.cache import engine_cache_path, model_meta, onnx_pack
from cyclegan_fx.export.engine import (
    EngineTarget,
    mismatch,
    profile_shapes,
    read_sidecar,
    unavailable_reason,
    write_sidecar,
)
from cyclegan_fx.export.graphs import required_segments
from cyclegan_fx.export.onnx_export import OPSET
from cyclegan_fx.export.verify import MIN_PSNR, check_generator_graph, failed
from cyclegan_fx.models import ModelStore
from cyclegan_fx.models.resolve import checkpoint_model
from cyclegan_fx.runtime.config import RunOptions, StatsMode
from cyclegan_fx.runtime.executor import sweep_margin
from cyclegan_fx.runtime.onnx_backend import OnnxRuntimeBackend, execution_providers
from cyclegan_fx.runtime.pack import read_pack, write_pack
from cyclegan_fx.runtime.runner import Runner
from cyclegan_fx.runtime.schedule import exact_schedule
from cyclegan_fx.runtime.torch_backend import TorchBackend

CPU = torch.device("cpu")
NO_TENSORRT = unavailable_reason()


@pytest.fixture(scope="module")
def tiny():
    return tiny_generator(seed=3)


@pytest.fixture(scope="module")
def tiny_pack(tiny, tmp_path_factory):
    return build_onnx_pack(tiny, {}, "fp32", tmp_path_factory.mktemp("pack") / "tiny.pack")


def test_onnx_export_is_dynamic_opset_18_and_verified(tiny, tmp_path):
    path = tmp_path / "tiny.onnx"
    export_onnx(tiny, path, "fp32")
    model = onnx.load(path)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and isinstance(dims[2], str) and isinstance(dims[3], str)
    checks = check_generator_graph(str(path), tiny, "fp32")
    assert [c.shape for c in checks] == [(1, 3, 256, 256), (1, 3, 192, 320), (2, 3, 128, 192)]
    assert not failed(checks, "fp32") and all(c.max_abs < 1e-4 for c in checks)


def test_the_verification_can_fail(tiny, tmp_path):
    path = tmp_path / "tiny.onnx"
    export_onnx(tiny, path, "fp32")
    checks = check_generator_graph(str(path), tiny_generator(seed=4), "fp32")  # other weights
    assert failed(checks, "fp32") == checks


def test_fp16_graph_keeps_norms_in_fp32_and_matches_on_the_real_model(vintage, tmp_path):
    path = tmp_path / "vintage16.onnx"
    export_onnx(vintage, path, "fp16")
    graph = onnx.load(path).graph
    weights = [i for i in graph.initializer if len(i.dims) == 4]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    producers = {out: node for node in graph.node for out in node.output}
    norms = [n for n in graph.node if n.op_type == "InstanceNormalization"]
    assert len(norms) == 23
    assert all(producers[n.input[0]].op_type == "Cast" for n in norms)  # fp16 -> fp32 before every norm
    checks = check_generator_graph(str(path), vintage, "fp16")
    assert all(c.psnr >= MIN_PSNR["fp16"] for c in checks)


def test_a_failed_verification_leaves_no_file(tiny, tmp_path, monkeypatch):
    # An export cannot be made wrong from outside, so make the threshold unreachable instead.
    monkeypatch.setitem(MIN_PSNR, "fp32", float("inf"))
    from cyclegan_fx.export.onnx_export import ExportError

    with pytest.raises(ExportError, match="does not match PyTorch"):
        export_onnx(tiny, tmp_path / "x.onnx", "fp32")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_refused_before_the_export(tiny, tmp_path, monkeypatch):
    from cyclegan_fx.export import build

    started = []
    monkeypatch.setattr(build, "export_segments", lambda *args: started.append(args))  # records, exports nothing
    checkpoint, target = tmp_path / "tiny.pth", tmp_path / "tiny.onnx"
    torch.save(tiny.net.state_dict(), checkpoint)
    target.write_bytes(b"precious")
    code, out = invoke("export", checkpoint, "--format", "onnx", "-o", target)
    assert code == 1 and "exists already" in out and target.read_bytes() == b"precious"
    assert started == []


def test_pack_holds_every_segment_the_runner_needs(tiny, tiny_pack):
    packed = {e.segment for e in tiny_pack.segments}
    assert packed == set(required_segments(tiny.program))
    assert {s.segment for s in exact_schedule(tiny.program).sweeps} <= packed


@pytest.mark.parametrize("mode", list(StatsMode))
def test_onnxruntime_backend_matches_torch_in_every_mode(tiny, tiny_pack, photo, mode):
    rgb = photo[:150, :222].astype(np.float32) / 255
    options = RunOptions(tile=48, stats=mode, thumbnail_size=112)
    ort = Runner(tiny, OnnxRuntimeBackend(tiny_pack)).run(rgb, options)
    ref = Runner(tiny, TorchBackend(tiny, CPU, torch.float32)).run(rgb, options)
    assert psnr(ort, ref, 1.0) > 60


def test_onnxruntime_takes_tiles_of_several_images_in_one_call(tiny, tiny_pack, photo):
    frames = [photo[:150, :222], photo[200:350, 300:522]]
    options = RunOptions(work_size="full", tile=48, batch=3)  # batches mix the two images' tiles and statistics
    ort = Runner(tiny, OnnxRuntimeBackend(tiny_pack)).run_batch(frames, options)
    ref = Runner(tiny, TorchBackend(tiny, CPU, torch.float32)).run_batch(frames, options)
    assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(ort, ref))


@pytest.mark.heavy  # real 11 M-parameter model through ONNX export and ONNX Runtime: minutes on 2 cores
def test_onnxruntime_exact_tiles_equal_one_pytorch_pass_on_the_real_model(vintage, vintage_path, photo):
    model = ModelStore().get("vintage")
    pack = onnx_pack(model, "a2b", vintage, "fp32")
    rgb = photo[40:296, 60:444].astype(np.float32) / 255
    whole = cpu_runner(vintage_path).run(rgb, RunOptions(tile=0))
    for tile in (96, 160):
        tiled = Runner(vintage, OnnxRuntimeBackend(pack)).run(rgb, RunOptions(tile=tile))
        assert psnr(tiled, whole, 1.0) >= 50
    again = onnx_pack(model, "a2b", vintage, "fp32")
    assert again.path == pack.path  # cached: built once, keyed by what made it


@pytest.mark.heavy  # exports and verifies every segment graph of a pack: about half a minute on 2 cores
def test_checkpoint_models_cache_their_packs_by_content(tiny, tmp_path):
    checkpoint = tmp_path / "tiny.pth"
    torch.save(tiny.net.state_dict(), checkpoint)
    model = checkpoint_model(checkpoint)
    pack = onnx_pack(model, "a2b", model.generator("a2b"), "fp32")
    assert pack.path.is_file()
    assert pack.path.parent.name == pack.manifest["model"]["weights_sha256"][:16]


@pytest.mark.heavy
def test_apply_with_the_onnxruntime_backend(tiny, tmp_path, photo):
    from PIL import Image

    checkpoint = tmp_path / "tiny.pth"
    torch.save(tiny.net.state_dict(), checkpoint)
    Image.fromarray(photo[:96, :128]).save(tmp_path / "in.png")
    outputs = {}
    for backend in ("torch", "onnxruntime"):
        code, out = invoke("apply", tmp_path / "in.png", "-o", tmp_path / f"{backend}.png", "--model", checkpoint,
                           "--backend", backend, "--device", "cpu", "--precision", "fp32")
        assert code == 0, out
        outputs[backend] = np.asarray(Image.open(tmp_path / f"{backend}.png"))
    assert psnr(outputs["torch"], outputs["onnxruntime"], 255) > 50


HERE = EngineTarget("11.4.0", "NVIDIA H100 80GB HBM3", "9.0", "x86_64")


@pytest.fixture
def engine_file(tiny, tmp_path):
    """An engine pack with a real sidecar written by the export code (plans are placeholders)."""
    checkpoint = tmp_path / "tiny.pth"
    torch.save(tiny.net.state_dict(), checkpoint)
    model = checkpoint_model(checkpoint)
    path = tmp_path / "tiny.engine"
    plan = tmp_path / "plan"
    plan.write_bytes(b"not a real plan")
    manifest = {"kind": "tensorrt", "precision": "fp16", "tile": 512, "batch": 2,
                "target": asdict(EngineTarget("10.3.0", "NVIDIA A100-SXM4-40GB", "8.0", "x86_64")),
                "model": model_meta(model, "a2b", tiny), "segments": []}
    write_pack(path, manifest, {"segment-00.plan": plan})
    write_sidecar(path, {k: v for k, v in manifest.items() if k != "segments"})
    return path


def test_sidecar_mismatch_names_both_machines_and_the_fix(engine_file):
    sidecar = read_sidecar(engine_file)
    message = mismatch(sidecar, HERE)
    assert "NVIDIA A100" in message and "NVIDIA H100" in message and "10.3.0" in message and "11.4.0" in message
    assert "cyclegan-fx export tiny --direction a2b --format engine" in message
    assert mismatch(sidecar, EngineTarget("10.3.1", "NVIDIA A100-SXM4-80GB", "8.0", "x86_64")) is None


def test_a_missing_or_damaged_sidecar_is_one_sentence(engine_file):
    from cyclegan_fx.errors import CheckpointError

    sidecar = engine_file.with_name("tiny.engine.json")
    sidecar.write_text("{ damaged")
    with pytest.raises(CheckpointError, match="damaged"):
        read_sidecar(engine_file)
    sidecar.unlink()
    with pytest.raises(CheckpointError, match="no sidecar"):
        read_sidecar(engine_file)


@pytest.mark.skipif(NO_TENSORRT is None, reason="TensorRT and a GPU are present: the real engine test runs instead")
def test_an_engine_model_on_a_machine_without_tensorrt_is_one_sentence(engine_file, tmp_path, photo):
    from PIL import Image

    Image.fromarray(photo[:96, :128]).save(tmp_path / "in.png")
    code, out = invoke("apply", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", engine_file)
    assert code == 1 and "Cannot build or run TensorRT engines" in out
    assert "Traceback" not in out and not (tmp_path / "out.png").exists()


@pytest.mark.heavy
def test_engine_export_runs_the_onnx_steps_then_says_what_is_missing(tiny, tmp_path):
    if NO_TENSORRT is None:
        pytest.skip("TensorRT is present: the engine is really built in test_tensorrt_engine_is_exact")
    checkpoint = tmp_path / "tiny.pth"
    torch.save(tiny.net.state_dict(), checkpoint)
    code, out = invoke("export", checkpoint, "--format", "engine", "-o", tmp_path / "t.engine")
    assert code == 1 and NO_TENSORRT in out
    pack_path = Path(out.split("(")[-1].split(")")[0])
    pack = read_pack(pack_path)
    assert pack.manifest["precision"] == "fp16" and len(pack.segments) == len(required_segments(tiny.program))
    assert not (tmp_path / "t.engine").exists()


def test_engine_profiles_fit_the_runner_tiles(vintage):
    program = vintage.program
    for sweep in exact_schedule(program).sweeps:
        seg = sweep.segment
        norms = [p for p in program.norms if seg.start <= p < seg.end]
        names = ("x",) + tuple(f"skip{k}" for k in range(len(seg.skips_in)))
        names += tuple(f"{kind}{p}" for p in norms for kind in ("mean", "var"))
        margin = sweep_margin(program, seg)
        shapes = profile_shapes(program, seg, names, tile=512, batch=4, margin=margin)
        scale = program.scale_before[seg.start]
        low, opt, high = shapes["x"]
        assert opt == (4, program.channels_before[seg.start], (512 + 2 * margin) // scale, (512 + 2 * margin) // scale)
        assert low[0] == 1 and all(l <= o <= h for l, o, h in zip(low, opt, high))
        for p in norms:  # one row of statistics per tile of the batch
            channels = program.channels_before[p]
            assert shapes[f"var{p}"] == ((1, channels, 1, 1), (4, channels, 1, 1), (4, channels, 1, 1))


def test_engine_cache_keys_change_with_the_target(tiny, tmp_path):
    checkpoint = tmp_path / "tiny.pth"
    torch.save(tiny.net.state_dict(), checkpoint)
    model = checkpoint_model(checkpoint)
    other = EngineTarget("11.4.0", "NVIDIA L4", "8.9", "x86_64")
    g = model.generator("a2b")
    assert engine_cache_path(model, "a2b", g, HERE, 1024, 4) != engine_cache_path(model, "a2b", g, other, 1024, 4)
    assert engine_cache_path(model, "a2b", g, HERE, 1024, 4) != engine_cache_path(model, "a2b", g, HERE, 512, 4)


@pytest.mark.skipif(NO_TENSORRT is not None, reason=f"needs TensorRT and a CUDA GPU: {NO_TENSORRT}")
def test_tensorrt_engine_is_exact(vintage, vintage_path, photo, tmp_path):
    from cyclegan_fx.export.engine import build_engine_pack, current_target
    from cyclegan_fx.runtime.tensorrt_backend import TensorRTBackend

    model = ModelStore().get("vintage")
    fp16 = onnx_pack(model, "a2b", vintage, "fp16")
    engine = build_engine_pack(fp16, vintage.program, tmp_path / "v.engine", 256, 2, current_target(),
                               tmp_path / "timing.cache")
    assert json.loads((tmp_path / "v.engine.json").read_text())["target"]["gpu"] == current_target().gpu
    rgb = photo[:312, :470].astype(np.float32) / 255
    whole = cpu_runner(vintage_path).run(rgb, RunOptions(tile=0))
    tiled = Runner(vintage, TensorRTBackend(engine, torch.device("cuda"))).run(rgb, RunOptions(tile=128))
    assert psnr(tiled, whole, 1.0) >= 40


def test_execution_providers_follow_the_device_and_what_onnxruntime_has(tmp_path, caplog):
    import onnxruntime as ort

    assert execution_providers(torch.device("cpu"), tmp_path) == ["CPUExecutionProvider"]
    gpu = execution_providers(torch.device("cuda"), tmp_path)
    assert gpu[-1] == "CPUExecutionProvider"
    names = [p[0] if isinstance(p, tuple) else p for p in gpu[:-1]]
    assert names == [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in ort.get_available_providers()]
    assert ("no GPU execution provider" in caplog.text) == (not names)
