"""Export: verified ONNX graphs, segment packs for the runner's backends, TensorRT engines."""
